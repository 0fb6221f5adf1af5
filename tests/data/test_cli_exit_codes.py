"""An ingest whose suite fails is unmistakable: the CLI exits 3 (told apart from errors, 1), the
SDK's answer says `passed` is False, and the HTTP response carries `x-corridor-validation`."""

from __future__ import annotations

import json
from pathlib import Path

from corridor.client.data import DataClient
from tests.cli.test_cli import Cli, cli, local  # noqa: F401 (fixtures)

SUITE = {"expectations": [{"kind": "between", "column": "amount", "min": 0}]}


def test_an_ingest_whose_suite_fails_exits_3_and_still_records_the_version(
    local: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    with local.sdk() as c:
        c.create_project("shop")
    csv = tmp_path / "orders.csv"
    csv.write_text("id,amount\n1,10\n2,-5\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text("expectations:\n  - {kind: between, column: amount, min: 0}\n")
    args = ["data", "ingest", str(csv), "orders", "-p", "shop", "-q", "--expect", str(suite)]

    failed = local.run(*args, "--gate")
    assert failed.returncode == 3, failed.stderr
    assert "validation: FAILED" in failed.stdout
    as_json = local.run(*args, "--json")  # the same content: the version that has it
    assert as_json.returncode == 3
    out = json.loads(as_json.stdout)
    assert out["validation"]["passed"] is False
    assert out["version"]["ref"] == "shop/orders@1"
    assert out["version"]["gated"]
    assert not out["version"]["gate_passed"]

    csv.write_text("id,amount\n1,10\n2,5\n")
    passed = local.run(*args)
    assert passed.returncode == 0, passed.stderr
    assert "validation: passed" in passed.stdout


def test_an_ingest_whose_suite_fails_says_so_in_the_sdk_and_in_the_http_response(
    data: DataClient,
) -> None:
    out = data.ingest(b"id,amount\n1,10\n2,-5\n", "orders", project="p", expect=SUITE, gate=True)
    assert out.created
    assert out.passed is False
    assert not out.version.gate_passed
    response = data.client.request(
        "POST",
        "/api/v1/dataset-uploads/p/orders",
        content=b"id,amount\n1,10\n2,-6\n",
        params={"expect": json.dumps(SUITE)},
    )
    assert response.status_code == 201
    assert response.headers["x-corridor-validation"] == "failed"
    assert response.json()["validation"]["passed"] is False
    fine = data.client.request(
        "POST",
        "/api/v1/dataset-uploads/p/orders",
        content=b"id,amount\n1,10\n2,6\n",
        params={"expect": json.dumps(SUITE)},
    )
    assert fine.headers["x-corridor-validation"] == "passed"
    assert data.ingest(b"id,amount\n1,1\n", "plain", project="p").passed is None
