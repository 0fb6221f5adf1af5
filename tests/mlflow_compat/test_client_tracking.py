"""The official MLflow client, unchanged, tracking experiments against a real `corridor server`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from corridor.client.client import Client
from tests.conftest import LiveServer
from tests.mlflow_compat.conftest import Connect, MlflowWorld, build_world

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _write_tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "hello.txt").write_text("hello")
    (root / "sub" / "data.bin").write_bytes(bytes(range(256)) * 64)
    return root


@pytest.mark.slow
def test_fluent_tracking_round_trip_in_a_workspace(
    live_server: LiveServer, connect: Connect, tmp_path: Path
) -> None:
    """Everything a training script does, as a project editor, on SQLite and PostgreSQL."""
    world = build_world(live_server)
    client = connect(world.url, world.tokens["ed"], workspace="team")

    experiment = mlflow.set_experiment("churn")
    assert experiment.name == "churn"  # as the client knows it; Corridor's API: "team/churn"
    assert experiment.workspace == "team"
    assert mlflow.set_experiment("churn").experiment_id == experiment.experiment_id

    with mlflow.start_run(run_name="first") as run:
        run_id = run.info.run_id
        assert run.info.artifact_uri == (
            f"mlflow-artifacts:/{experiment.experiment_id}/{run_id}/artifacts"
        )
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"layers": 3, "activation": "relu"})
        mlflow.log_metric("loss", 1.0, step=0)
        mlflow.log_metrics({"loss": 0.5, "acc": 0.7}, step=1)
        mlflow.log_metric("loss", 0.25, step=2, synchronous=False).wait()
        mlflow.log_metric("nan", math.nan, step=0)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"team": "ml", "priority": "high"})
        tree = _write_tree(tmp_path / "tree")
        mlflow.log_artifact(str(tree / "hello.txt"))
        mlflow.log_artifacts(str(tree), artifact_path="tree")
        mlflow.log_text("some notes", "notes/readme.txt")
        mlflow.log_dict({"lr": 0.1, "layers": [1, 2]}, "config.json")
        figure, axes = plt.subplots()
        axes.plot([0, 1, 2], [2, 1, 0])
        mlflow.log_figure(figure, "plots/curve.png")
        plt.close(figure)

    fetched = client.get_run(run_id)
    assert fetched.info.status == "FINISHED"
    assert fetched.info.end_time is not None
    assert fetched.info.run_name == "first"
    assert fetched.info.user_id == "ed"
    assert fetched.data.params == {"alpha": "0.5", "layers": "3", "activation": "relu"}
    assert fetched.data.metrics["loss"] == 0.25
    assert fetched.data.metrics["acc"] == 0.7
    assert math.isnan(fetched.data.metrics["nan"])
    assert {"stage": "dev", "team": "ml", "priority": "high"}.items() <= fetched.data.tags.items()

    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 0.25)]

    listed = {f.path: f for f in client.list_artifacts(run_id)}
    assert set(listed) == {"config.json", "hello.txt", "notes", "plots", "tree"}
    assert listed["tree"].is_dir
    assert listed["hello.txt"].file_size == 5
    out = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "dl")))
    assert (out / "hello.txt").read_text() == "hello"
    assert (out / "tree" / "sub" / "data.bin").read_bytes() == bytes(range(256)) * 64
    assert (out / "notes" / "readme.txt").read_text() == "some notes"
    assert json.loads((out / "config.json").read_text()) == {"lr": 0.1, "layers": [1, 2]}
    assert (out / "plots" / "curve.png").read_bytes().startswith(b"\x89PNG")
    one = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="tree/hello.txt", dst_path=str(tmp_path / "one")
    )
    assert Path(one).read_text() == "hello"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json") == {
        "lr": 0.1,
        "layers": [1, 2],
    }

    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert mlflow.search_runs([experiment.experiment_id], output_format="list") == []
    deleted = mlflow.search_runs(
        [experiment.experiment_id], run_view_type=ViewType.DELETED_ONLY, output_format="list"
    )
    assert [r.info.run_id for r in deleted] == [run_id]
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"


def test_search_runs_filters_orders_and_pages(world: MlflowWorld, connect: Connect) -> None:
    client = connect(world.url, world.tokens["alice"])
    experiment_id = client.create_experiment("team/search")
    for i in range(7):
        run = client.create_run(experiment_id, run_name=f"run-{i}")
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("score", i / 10, 0, 0)],
            params=[Param("i", str(i))],
            tags=[RunTag("parity", "even" if i % 2 == 0 else "odd")],
        )

    frame = mlflow.search_runs(
        [experiment_id], filter_string="metrics.score >= 0.3", order_by=["metrics.score DESC"]
    )
    assert list(frame["params.i"]) == ["6", "5", "4", "3"]

    found = mlflow.search_runs(
        [experiment_id],
        filter_string="tags.parity = 'even' and params.i != '0'",
        order_by=["metrics.score ASC"],
        max_results=2,
        output_format="list",
    )
    assert [r.data.params["i"] for r in found] == ["2", "4"]

    pages, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], order_by=["params.i ASC"], max_results=3, page_token=token
        )
        pages.append([r.data.params["i"] for r in page])
        token = page.token
        if not token:
            break
    assert pages == [["0", "1", "2"], ["3", "4", "5"], ["6"]]

    with pytest.raises(MlflowException) as refused:
        client.search_runs([experiment_id], filter_string="metrics.score >>> 1")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_experiments_filters_orders_and_pages(world: MlflowWorld, connect: Connect) -> None:
    client = connect(world.url, world.tokens["alice"])
    for name in ("zeta", "alpha", "mid"):
        client.create_experiment(f"team/listing-{name}", tags={"kind": "listing"})

    found = mlflow.search_experiments(
        filter_string="name LIKE 'team/listing-%'", order_by=["name ASC"]
    )
    assert [e.name for e in found] == [
        "team/listing-alpha",
        "team/listing-mid",
        "team/listing-zeta",
    ]
    tagged = mlflow.search_experiments(filter_string="tags.kind = 'listing'", max_results=2)
    assert len(tagged) == 2

    names, token = [], None
    while True:
        page = client.search_experiments(
            filter_string="name LIKE 'team/listing-%'",
            order_by=["name DESC"],
            max_results=2,
            page_token=token,
        )
        names += [e.name for e in page]
        token = page.token
        if not token:
            break
    assert names == ["team/listing-zeta", "team/listing-mid", "team/listing-alpha"]


def test_search_experiments_shows_only_projects_the_caller_can_read(
    world: MlflowWorld, connect: Connect
) -> None:
    connect(world.url, world.tokens["mallory"]).create_experiment("other/secret-plans")
    connect(world.url, world.tokens["alice"]).create_experiment("team/visible")

    seen_by_vic = {e.name for e in connect(world.url, world.tokens["vic"]).search_experiments()}
    assert "team/visible" in seen_by_vic
    assert "other/secret-plans" not in seen_by_vic
    in_workspace = connect(world.url, world.tokens["mallory"], workspace="other")
    assert {e.name for e in in_workspace.search_experiments()} == {"secret-plans"}


def test_runs_without_an_experiment_go_to_the_default_experiment(
    world: MlflowWorld, connect: Connect
) -> None:
    """An administrator's plain client lands in MLflow's experiment "0", project ``default``."""
    client = connect(world.url, world.tokens["root"])
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0)
    assert run.info.experiment_id == "0"
    assert client.get_experiment("0").name == "Default"
    with Client(world.url, token=world.tokens["root"]) as admin:
        assert "default" in {p.name for p in admin.list_projects()}


def test_plain_experiment_names_live_in_the_default_project(
    world: MlflowWorld, connect: Connect
) -> None:
    """Without a workspace or a project prefix, names belong to ``default``; a user needs a
    role there, as anywhere."""
    connect(world.url, world.tokens["root"])
    assert mlflow.set_experiment("plain-name").name == "plain-name"
    connect(world.url, world.tokens["alice"])
    with pytest.raises(MlflowException) as hidden:
        mlflow.set_experiment("plain-name")
    assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST"
