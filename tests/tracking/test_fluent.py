"""The module-level SDK: corridor.start_run() and friends, over an in-process client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import corridor
from corridor import Client
from corridor.config import Settings
from corridor.errors import Conflict, InvalidInput
from corridor.home import init_home
from corridor.tracking import fluent


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    init_home(settings)
    with Client(settings=settings) as c:
        yield c
    while (run := fluent.active_run()) is not None:
        fluent.end_run(run=run)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_run_logs_everything_and_finishes(client: Client, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_text("a")
    (tmp_path / "out" / "sub").mkdir()
    (tmp_path / "out" / "sub" / "b.txt").write_text("b")
    client.create_project("vision")
    with corridor.start_run("baseline", project="vision", run_name="r1", client=client) as run:
        assert corridor.active_run() is run
        corridor.log_param("lr", 0.1)
        corridor.log_params({"depth": 3, "act": "relu"})
        corridor.set_tag("team", "cv")
        corridor.set_tags({"stage": "dev"})
        for step in range(2500):
            corridor.log_metric("loss", 1 / (step + 1), step=step)
        corridor.log_metrics({"acc": 0.9, "f1": 0.8}, step=7)
        corridor.log_artifact(tmp_path / "out" / "a.txt", "files")
        corridor.log_artifacts(tmp_path / "out", "tree")
    assert corridor.active_run() is None
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.info.end_time is not None
    assert got.info.run_name == "r1"
    assert got.params == {"lr": "0.1", "depth": "3", "act": "relu"}
    assert {"team": "cv", "stage": "dev"}.items() <= got.tags.items()
    assert got.metrics["acc"].step == 7
    assert len(client.metric_history(run.run_id, "loss")) == 2500
    exp = client.get_experiment("vision", run.experiment_id)
    assert exp.name == "vision/baseline"
    names = {f.path for f in client.list_artifacts(run.run_id, "tree")}
    assert names == {"tree/a.txt", "tree/sub"}
    assert [f.path for f in client.list_artifacts(run.run_id, "files")] == ["files/a.txt"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_exception_fails_the_run_after_flushing_its_metrics(client: Client) -> None:
    def train() -> corridor.ActiveRun:
        with corridor.start_run(client=client) as run:
            corridor.log_metric("before", 1.0)
            runs.append(run)
            _ = 1 / 0
        return run

    runs: list[corridor.ActiveRun] = []
    with pytest.raises(ZeroDivisionError):
        train()
    (run,) = runs
    got = client.get_run(run.run_id)
    assert got.info.status == "FAILED"
    assert "before" in got.metrics
    assert got.info.experiment_id == "0"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_runs_nest_only_when_asked(client: Client) -> None:
    with corridor.start_run("outer", client=client) as outer:
        with pytest.raises(Conflict, match="nested=True"):
            corridor.start_run("inner", client=client)
        with corridor.start_run("inner", nested=True, client=client) as inner:
            assert corridor.active_run() is inner
        assert corridor.active_run() is outer


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_errors_surface_where_they_can(client: Client) -> None:
    with pytest.raises(Conflict, match="no active run"):
        corridor.log_metric("m", 1.0)
    with corridor.start_run(client=client):
        corridor.log_param("p", "1")
        with pytest.raises(InvalidInput, match="cannot change"):
            corridor.log_param("p", "2")
        corridor.log_metric("../bad", 1.0)
        with pytest.raises(InvalidInput, match="would resolve"):
            fluent.flush()
        corridor.log_metric("good", 1.0)
    corridor.end_run()  # no active run: nothing to do
