"""Dataset and alias triggers: a new version ingested, or an alias moved, makes one queued run
whose parameter names it; nothing for what existed when the trigger was made."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from corridor.client.client import Client
from corridor.compute.sansio import payload
from corridor.data.ingest import ingest_upload
from corridor.data.limits import DataLimits
from corridor.data.sansio.sensitivity import Sensitivity
from corridor.data.schemas import ReadOptions, VersionMeta
from corridor.pipelines.loop import tick
from corridor.pipelines.loop.triggers import MAX_RUNS_PER_TICK
from corridor.pipelines.models import PipelineTrigger
from corridor.registry import service as registry
from corridor.registry.manifest import FileEntry, ManifestFields
from tests.conftest import LiveServer
from tests.pipelines.conftest import WriteModule
from tests.pipelines.loop_world import LoopWorld, at, register_live, wait_for_ended_run, world

__all__ = ["world"]

NOW = at(2026, 1, 1)


def ingest(w: LoopWorld, name: str, seed: int) -> int:
    """A new version of ``name`` in project p (its content differs by ``seed``): its number."""
    buffer = io.BytesIO()
    pl.DataFrame({"x": [seed, seed + 1]}).write_parquet(buffer)
    runtime = w.cw.runtime
    stored = ingest_upload(
        runtime.db,
        runtime.blobs,
        DataLimits.from_settings(runtime.settings),
        w.cw.project("p"),
        name,
        iter([buffer.getvalue()]),
        file_name=f"{name}.parquet",
        total=None,
        options=ReadOptions(format="parquet"),
        meta=VersionMeta(regions=[], sensitivity=Sensitivity.INTERNAL),
        by=w.cw.principals["alice"],
    )
    return stored.resolved.version.version


def refs(w: LoopWorld) -> list[object]:
    return [run.params["data"] for run in w.runs()]


def test_a_new_dataset_version_makes_a_run_with_the_parameter_set(world: LoopWorld) -> None:
    ingest(world, "sales", 1)
    trigger_id = world.trigger(kind="dataset", dataset="sales", param="data", params={"n": 3})
    assert world.get(PipelineTrigger, trigger_id).last_seen == 1
    # What existed when the trigger was made runs nothing.
    assert tick(world.cw.runtime, NOW).triggered == []
    assert ingest(world, "sales", 2) == 2
    report = tick(world.cw.runtime, NOW)
    assert len(report.triggered) == 1
    (run,) = world.runs()
    assert run.params == {"data": "sales@2", "n": 3}
    assert run.trigger == "dataset"
    assert run.trigger_detail == {"trigger_id": trigger_id, "dataset": "sales@2"}
    assert tick(world.cw.runtime, NOW).triggered == []
    ingest(world, "sales", 3)
    ingest(world, "sales", 4)
    tick(world.cw.runtime, NOW)
    assert refs(world) == ["sales@2", "sales@3", "sales@4"]
    assert world.get(PipelineTrigger, trigger_id).last_seen == 4


def test_another_dataset_or_project_does_not_fire_the_trigger(world: LoopWorld) -> None:
    world.trigger(kind="dataset", dataset="sales", param="data")
    ingest(world, "costs", 1)
    assert tick(world.cw.runtime, NOW).triggered == []


def test_a_trigger_made_before_its_dataset_fires_on_the_first_version(world: LoopWorld) -> None:
    trigger_id = world.trigger(kind="dataset", dataset="sales", param="data")
    assert world.get(PipelineTrigger, trigger_id).last_seen is None
    ingest(world, "sales", 1)
    tick(world.cw.runtime, NOW)
    assert refs(world) == ["sales@1"]


def test_many_new_versions_fire_at_most_ten_a_tick_oldest_first(world: LoopWorld) -> None:
    world.trigger(kind="dataset", dataset="sales", param="data")
    for seed in range(MAX_RUNS_PER_TICK + 2):
        ingest(world, "sales", seed)
    assert len(tick(world.cw.runtime, NOW).triggered) == MAX_RUNS_PER_TICK
    assert len(tick(world.cw.runtime, NOW).triggered) == 2
    assert refs(world) == [f"sales@{n}" for n in range(1, MAX_RUNS_PER_TICK + 3)]


def test_a_trigger_without_a_parameter_runs_with_its_params(world: LoopWorld) -> None:
    world.trigger(kind="dataset", dataset="sales", params={"n": 9})
    ingest(world, "sales", 1)
    tick(world.cw.runtime, NOW)
    (run,) = world.runs()
    assert run.params == {"data": "none", "n": 9}


def test_a_disabled_trigger_does_not_fire(world: LoopWorld) -> None:
    trigger_id = world.trigger(kind="dataset", dataset="sales", param="data")
    with world.db.write() as session:
        session.get(PipelineTrigger, trigger_id).enabled = False
    ingest(world, "sales", 1)
    assert tick(world.cw.runtime, NOW).triggered == []


def _model_with_versions(w: LoopWorld, count: int) -> None:
    """Model ``p/fraud`` with ``count`` versions (a small linear model package each)."""
    blobs = w.cw.runtime.blobs
    data = b'{"weights": [1.0, 2.0], "bias": 0.5}'
    file = FileEntry(digest=blobs.put(data), size=len(data))
    project = w.cw.project("p")
    with w.db.write() as session:
        registry.stage_blobs(session, project.id, {file.digest: file.size})
        registry.create_registered_model(session, project, "p/fraud")
        for _ in range(count):
            package = registry.NewPackage(
                ManifestFields(flavour="corridor.linear", entry="model.json"),
                {"model.json": file},
            )
            registry.create_model_version(
                session, blobs, "p/fraud", by=w.cw.principals["alice"], package=package
            )


def _set_alias(w: LoopWorld, version: int) -> None:
    with w.db.write() as session:
        registry.set_registered_model_alias(session, "p/fraud", "production", version)


def test_an_alias_moving_makes_a_run_with_the_model_version(world: LoopWorld) -> None:
    _model_with_versions(world, 3)
    _set_alias(world, 1)
    trigger_id = world.trigger(kind="alias", model="p/fraud", alias="production", param="data")
    assert world.get(PipelineTrigger, trigger_id).last_seen == 1
    assert tick(world.cw.runtime, NOW).triggered == []
    _set_alias(world, 3)
    assert len(tick(world.cw.runtime, NOW).triggered) == 1
    (run,) = world.runs()
    assert run.params["data"] == "p/fraud@3"
    assert run.trigger == "alias"
    assert run.trigger_detail == {
        "trigger_id": trigger_id,
        "model": "p/fraud@3",
        "alias": "production",
    }
    assert tick(world.cw.runtime, NOW).triggered == []
    # Moving back is a move too.
    _set_alias(world, 2)
    tick(world.cw.runtime, NOW)
    assert refs(world) == ["p/fraud@3", "p/fraud@2"]


def test_an_alias_removed_is_not_a_move(world: LoopWorld) -> None:
    _model_with_versions(world, 2)
    _set_alias(world, 1)
    trigger_id = world.trigger(kind="alias", model="p/fraud", alias="production", param="data")
    with world.db.write() as session:
        registry.delete_registered_model_alias(session, "p/fraud", "production")
    assert tick(world.cw.runtime, NOW).triggered == []
    assert world.get(PipelineTrigger, trigger_id).last_seen == 1
    _set_alias(world, 1)
    assert tick(world.cw.runtime, NOW).triggered == []
    _set_alias(world, 2)
    tick(world.cw.runtime, NOW)
    assert refs(world) == ["p/fraud@2"]


# --- end to end, on the live server ----------------------------------------------------------

REPORT_FILE = """
from corridor.pipelines import pipeline, step


@step(in_process=True)
def describe(data: str) -> str:
    return "saw " + data


@pipeline
def report(data: str = "none") -> str:
    return describe(data)
"""


def test_a_version_ingested_on_the_live_server_runs_the_pipeline_on_it(
    pipelines_server: LiveServer,
    admin_client: Client,
    project: str,
    pipeline_module: WriteModule,
    tmp_path: Path,
) -> None:
    def ingest_csv(rows: str) -> int:
        path = tmp_path / "sales.csv"
        path.write_text("x\n" + rows)
        return admin_client.data.ingest(path, "sales", project=project).version.version

    assert ingest_csv("1\n") == 1
    module = pipeline_module(REPORT_FILE)
    with pipelines_server.client() as http:
        params = [{"name": "data", "type": "str", "required": False, "default": "none"}]
        register_live(admin_client, http, project, module, "report", params)
        made = http.post(
            f"/api/v1/projects/{project}/pipelines/report/triggers",
            json={"dataset": "sales", "param": "data"},
        )
        assert made.status_code == 201, made.text
        assert made.json()["last_seen"] == 1
        assert ingest_csv("1\n2\n") == 2
        run = wait_for_ended_run(http, project, "report", limit_s=180)
        assert run["state"] == "succeeded", run
        assert (run["trigger"], run["params"]) == ("dataset", {"data": "sales@2"})
        result = http.get(f"/api/v1/pipeline-runs/{run['id']}/result")
        assert payload.decode(result.content) == "saw sales@2"
        # Version 1 (there before the trigger) made no run.
        assert len(http.get(f"/api/v1/projects/{project}/pipeline-runs").json()) == 1
