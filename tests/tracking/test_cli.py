"""`corridor runs ls|show|compare` as users run them, over a local home."""

from __future__ import annotations

import json

from corridor.tracking.cli import comparison
from corridor.tracking.entities import MetricPoint
from corridor.tracking.schemas import RunInfoOut, RunOut
from tests.cli.test_cli import Cli, cli, local  # noqa: F401 (fixtures)


def test_runs_ls_show_and_compare(local: Cli) -> None:  # noqa: F811
    with local.sdk() as c:
        c.create_project("vision")
        exp = c.create_experiment("vision", "baseline")
        ids = []
        for name, acc, lr in (("a", 0.9, "0.1"), ("b", 0.7, "0.2")):
            run = c.create_run("vision", exp.experiment_id, run_name=name)
            c.log_batch(
                run.info.run_id,
                metrics=[MetricPoint("acc", acc, 1, 0)],
                params={"lr": lr},
            )
            ids.append(run.info.run_id)
    listed = local.json("runs", "ls", "--project", "vision", "--filter", "metrics.acc > 0.8")
    assert [r["info"]["run_name"] for r in listed] == ["a"]
    by_name = local.json(
        "runs", "ls", "-p", "vision", "-e", "baseline", "--order-by", "metrics.acc"
    )
    assert [r["info"]["run_name"] for r in by_name] == ["b", "a"]
    table = local.ok("runs", "ls", "-p", "vision", "-e", exp.experiment_id)
    assert ids[0] in table
    assert "acc" in table
    shown = local.json("runs", "show", ids[0])
    assert shown["params"] == {"lr": "0.1"}
    assert "0.1" in local.ok("runs", "show", ids[0])
    compared = local.json("runs", "compare", *ids)
    assert compared["params"] == {"lr": {ids[0]: "0.1", ids[1]: "0.2"}}
    assert compared["metrics"] == {"acc": {ids[0]: 0.9, ids[1]: 0.7}}
    assert "param lr" in local.ok("runs", "compare", *ids)
    missing = local.run("runs", "ls", "-p", "vision", "-e", "nope")
    assert missing.returncode == 2
    bad = local.run("runs", "ls", "-p", "vision", "--filter", "metrics.acc >")
    assert bad.returncode == 1
    assert "error: invalid run filter" in bad.stderr
    one = local.run("runs", "compare", ids[0])
    assert one.returncode == 2


def test_comparison_leaves_gaps_for_missing_keys() -> None:
    info = {
        "experiment_id": "1",
        "user_id": "u",
        "status": "RUNNING",
        "start_time": 0,
        "end_time": None,
        "lifecycle_stage": "active",
        "artifact_uri": "x",
    }
    first = RunOut(
        info=RunInfoOut(run_id="1" * 32, run_name="a", **info),  # type: ignore[arg-type]
        params={"p": "1"},
        tags={},
        metrics={},
    )
    second = RunOut(
        info=RunInfoOut(run_id="2" * 32, run_name="b", **info),  # type: ignore[arg-type]
        params={},
        tags={},
        metrics={},
    )
    table = comparison([first, second])
    assert table["params"] == {"p": {"1" * 32: "1", "2" * 32: None}}
    assert json.dumps(table)
