"""`corridor data ...` as users run it, and the data routes over a live HTTP server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import polars as pl
import pytest

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.config import Settings
from corridor.errors import InvalidInput
from tests.cli.test_cli import Cli, cli, local  # noqa: F401 (fixtures)
from tests.conftest import LIVE_MAX_BODY_BYTES, LiveServer, sqlite_only


def test_data_commands_end_to_end(local: Cli, tmp_path: Path) -> None:  # noqa: F811
    with local.sdk() as c:
        c.create_project("shop")
    csv = tmp_path / "orders.csv"
    csv.write_text("id;email;amount\n1;a@example.com;10\n2;b@example.com;x\n3;c@example.com;30\n")
    out = local.json(
        "data",
        "ingest",
        str(csv),
        "orders",
        "-p",
        "shop",
        "--sensitivity",
        "confidential",
        "--tag",
        "src=crm",
    )
    assert out["created"]
    assert out["version"]["ref"] == "shop/orders@1"
    assert out["version"]["source"]["csv"]["delimiter"] == ";"
    text = local.ok("data", "ingest", str(csv), "orders", "-p", "shop", "-q")
    assert "already had shop/orders@1" in text
    listed = local.json("data", "ls", "-p", "shop")
    assert [(d["name"], d["versions"]) for d in listed] == [("orders", 1)]
    assert "orders" in local.ok("data", "ls", "-p", "shop")
    shown = local.ok("data", "show", "shop/orders@1")
    assert "delimiter ';'" in shown
    assert "amount" in shown
    assert "src=crm" in shown
    assert local.json("data", "show", "orders", "-p", "shop")["versions"][0]["version"] == 1

    suite = tmp_path / "suite.yaml"
    suite.write_text("expectations:\n  - {kind: not_null, column: email}\n")
    passed = local.run("data", "validate", "shop/orders@1", str(suite), "--gate")
    assert passed.returncode == 0, passed.stderr
    suite.write_text("expectations:\n  - {kind: between, column: id, max: 2}\n")
    failed = local.run("data", "validate", "shop/orders@1", str(suite), "--json")
    assert failed.returncode == 3
    assert json.loads(failed.stdout)["report"]["passed"] is False

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("steps:\n  - {kind: coerce, columns: {amount: float64}}\n")
    dry = local.ok("data", "clean", "shop/orders@1", str(recipe), "--dry-run")
    assert "dry run" in dry
    assert "coerce" in dry
    cleaned = local.ok("data", "clean", "shop/orders@1", str(recipe), "-o", "orders-clean")
    assert "wrote shop/orders-clean@1: 2 rows" in cleaned
    assert "quarantined 1 rows into shop/orders-clean.quarantine@1" in cleaned

    profile = local.json("data", "profile", "shop/orders-clean@1")
    assert profile["profile"]["row_count"] == 2
    assert "amount" in local.ok("data", "profile", "shop/orders-clean@1", "--stored")
    diff = local.json("data", "diff", "shop/orders@1", "orders-clean@1", "--key", "id")
    assert diff["keyed"]["removed"] == 1
    assert "rows by id" in local.ok(
        "data", "diff", "shop/orders@1", "orders-clean@1", "--key", "id"
    )
    scan = local.json("data", "pii", "shop/orders@1")
    assert scan["pii_columns"] == {"email": "EMAIL"}
    assert "EMAIL" in local.ok("data", "pii", "shop/orders@1")
    plan = tmp_path / "mask.yaml"
    plan.write_text("rules:\n  - {column: email, operator: partial, keep_last: 4}\n")
    masked = local.ok("data", "pii", "shop/orders@1", "--mask", str(plan), "-o", "orders-masked")
    assert "masked into shop/orders-masked@1" in masked
    dest = tmp_path / "out.parquet"
    local.ok("data", "get", "shop/orders-masked@1", str(dest))
    assert pl.read_parquet(dest)["email"][0] == "*********.com"

    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4,5\n")
    done = local.run("data", "ingest", str(bad), "bad", "-p", "shop", "-q")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: bad.csv, line 3, column 3: ragged row: 3 fields where the header row has 2; "
        "every row needs as many fields as the header (check the delimiter and quoting)"
    )


@sqlite_only
def test_uploads_over_http_stream_past_the_json_body_limit(
    live_server: LiveServer, tmp_path: Path
) -> None:
    rows = 20_000
    big = tmp_path / "big.csv"
    big.write_text("id,name\n" + "".join(f"{i},name-{i}\n" for i in range(rows)))
    assert big.stat().st_size > 4 * LIVE_MAX_BODY_BYTES
    with Client(live_server.url, token=live_server.token, settings=_settings(tmp_path)) as c:
        c.create_project("p")
        data = DataClient(c)
        out = data.ingest(big, "big", project="p")
        assert out.version.row_count == rows
        assert out.version.source is not None
        assert out.version.source.bytes_read == big.stat().st_size
        assert data.get("p/big@1")["id"].sum() == sum(range(rows))
        with pytest.raises(InvalidInput, match=r"upload, line 3, column 3: ragged row"):
            data.ingest(b"a,b\n1,2\n3,4,5\n", "bad", project="p")
        # JSON routes keep the body limit.
        huge = {"suite": {"expectations": []}, "frames": {f"f{i}": "x" * 100 for i in range(1000)}}
        response = httpx.post(
            f"{live_server.url}/api/v1/projects/p/datasets/big/versions/1/validate",
            json=huge,
            headers=live_server.auth(),
        )
        assert response.status_code == 413


def _settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "client-home")


def test_the_progress_bar_follows_the_phases(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from corridor.data.cli import _progress_bar

    monkeypatch.setenv("FORCE_COLOR", "1")  # rich draws only on terminals
    monkeypatch.setenv("COLUMNS", "120")
    with _progress_bar(True) as progress:
        progress("uploading", 512, 1024)
        progress("converting", 0, None)
        progress("storing", 10, 10)
    drawn = capsys.readouterr().err
    assert "uploading" in drawn or "storing" in drawn
