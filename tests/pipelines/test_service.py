"""The pipelines service behind the routes, on SQLite and PostgreSQL: the project's step cache,
retry and cancel, schedules and triggers, lineage and the blob sweep's references."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from corridor.compute.models import Job
from corridor.data.sansio.sensitivity import Sensitivity
from corridor.errors import InvalidInput
from corridor.lineage.graph import Node, NodeKind
from corridor.lineage.models import LineageEdge
from corridor.lineage.names import node_names
from corridor.lineage.owners import node_projects
from corridor.pipelines import runs, step_runs
from corridor.pipelines.sansio.run_params import check_params
from corridor.pipelines.schemas import StepBeginBatch
from corridor.pipelines.step_runs import referenced_blobs
from tests.pipelines.server_world import PipelinesWorld, b64, output, pw

__all__ = ["pw"]

KEY = "a" * 64
CODE = "c" * 64


def _cached_step(key: str = "load", **values: Any) -> dict[str, Any]:
    return {
        "key": key,
        "step": "load",
        "in_process": True,
        "cache_key": KEY,
        "code_digest": CODE,
        **values,
    }


def _record(pw: PipelinesWorld, run_id: str, value: object, user: str = "alice") -> dict[str, Any]:
    response = pw.finish(
        run_id,
        [
            {
                "key": "load",
                "state": "succeeded",
                "begin": _cached_step(),
                "output_b64": output(value),
                "logs_b64": b64(b"loaded\n"),
            }
        ],
        user=user,
    )
    assert response.status_code == 200, response.text
    row: dict[str, Any] = response.json()[0]
    return row


def test_a_cache_key_seen_in_the_project_is_a_hit_unless_caching_is_off(pw: PipelinesWorld) -> None:
    pw.register()
    first = _record(pw, pw.run()["id"], [1, 2])
    second = pw.run()["id"]
    hit = pw.begin(second, [_cached_step()]).json()[0]
    assert hit["state"] == "cached"
    logs = pw.http.get(f"/api/v1/pipeline-runs/{second}/steps/load/logs", headers=pw.auth("vic"))
    assert logs.content == b"loaded\n"
    assert hit["cached_from"] == first["id"]
    assert hit["output_digest"] == first["output_digest"]
    assert hit["duration_ms"] == 0
    off = pw.begin(pw.run(no_cache=True)["id"], [_cached_step()]).json()[0]
    assert off["state"] == "running"
    refused = pw.begin(pw.run()["id"], [_cached_step(cache=False)]).json()[0]
    assert refused["state"] == "running"
    miss = pw.begin(pw.run()["id"], [_cached_step(cache_key="b" * 64)]).json()[0]
    assert miss["state"] == "running"


def test_the_cache_never_crosses_projects(pw: PipelinesWorld) -> None:
    pw.register()
    _record(pw, pw.run()["id"], [1])
    pw.register(user="bob", project="q", snapshot=None)
    other = pw.run(user="bob", project="q")
    assert pw.begin(other["id"], [_cached_step()], user="bob").json()[0]["state"] == "running"
    index = pw.post(f"/pipeline-runs/{other['id']}/cache-index", {"code_digests": [CODE]}, "bob")
    assert index.json() == {"entries": {}}
    mine = pw.post(f"/pipeline-runs/{pw.run()['id']}/cache-index", {"code_digests": [CODE]})
    assert list(mine.json()["entries"]) == [KEY]
    assert (
        pw.http.get(
            f"/api/v1/projects/q/pipeline-artifacts/{mine.json()['entries'][KEY]['output_digest']}",
            headers=pw.auth("bob"),
        ).status_code
        == 404
    )
    artifact = pw.http.get(
        f"/api/v1/projects/p/pipeline-artifacts/{mine.json()['entries'][KEY]['output_digest']}",
        headers=pw.auth("vic"),
    )
    assert artifact.status_code == 200


def test_retry_keeps_what_succeeded_and_reopens_the_rest(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run()
    rid = run["id"]
    pw.begin(
        rid,
        [
            {"key": "job", "step": "job", "job": pw.job_body()},
            {"key": "e", "step": "e", "in_process": True},
        ],
    )
    pw.finish(
        rid,
        [
            {
                "key": "a",
                "state": "succeeded",
                "begin": {"key": "a", "step": "a"},
                "output_b64": output(1),
            },
            {
                "key": "b",
                "state": "failed",
                "begin": {"key": "b", "step": "b"},
                "error": "ValueError: x",
            },
            {"key": "c", "state": "upstream_failed"},
        ],
    )
    assert pw.post(f"/pipeline-runs/{rid}/retry", {}).status_code == 409  # still running
    pw.post(f"/pipeline-runs/{rid}/finish", {"state": "failed", "error": "step 'b' failed"})
    retried = pw.post(f"/pipeline-runs/{rid}/retry", {})
    assert retried.status_code == 200, retried.text
    view = retried.json()
    assert view["run"]["state"] == "queued"
    assert view["run"]["driver"] == "job"
    assert view["run"]["error"] is None
    assert view["run"]["trigger"] == "cli"
    assert view["run"]["trigger_detail"]["retries"] == 1
    assert sorted(s["key"] for s in view["steps"]) == ["a", "job"]


def test_cancel_ends_the_run_its_steps_and_their_jobs(pw: PipelinesWorld) -> None:
    pw.register()
    rid = pw.run()["id"]
    job_id = pw.begin(rid, [{"key": "job", "step": "job", "job": pw.job_body()}]).json()[0][
        "job_id"
    ]
    cancelled = pw.post(f"/pipeline-runs/{rid}/cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert pw.view(rid)["steps"][0]["state"] == "cancelled"
    assert pw.cw.job(job_id).state == "cancelled"
    assert pw.post(f"/pipeline-runs/{rid}/cancel", {}).status_code == 200
    assert pw.begin(rid, [{"key": "x", "step": "x", "in_process": True}]).status_code == 409


def test_schedules_are_checked_listed_and_deleted(pw: PipelinesWorld) -> None:
    pw.register()
    url = "/projects/p/pipelines/etl/schedules"
    before = pw.counts()
    bad = pw.post(url, {"cron": "61 * * * *"})
    assert bad.status_code == 422
    assert "minute" in bad.json()["error"]["message"]
    assert pw.post(url, {"cron": "0 * * * *", "timezone": "Mars/Base"}).status_code == 422
    wrong = pw.post(url, {"cron": "0 * * * *", "params": {"n": "x"}})
    assert "parameter 'n'" in wrong.json()["error"]["message"]
    assert pw.counts() == before
    made = pw.post(url, {"cron": "30 2 * * *", "timezone": "Europe/Paris", "params": {"n": 4}})
    assert made.status_code == 201, made.text
    assert made.json()["next_fire_at"] is not None
    listed = pw.http.get(f"/api/v1{url}", headers=pw.auth("vic")).json()
    assert [s["id"] for s in listed] == [made.json()["id"]]
    gone = pw.http.delete(
        f"/api/v1/pipeline-schedules/{made.json()['id']}", headers=pw.auth("alice")
    )
    assert gone.status_code == 204
    assert pw.http.get(f"/api/v1{url}", headers=pw.auth("vic")).json() == []


def test_triggers_watch_what_exists_from_its_current_version(pw: PipelinesWorld) -> None:
    pw.register(params=[{"name": "data", "type": "str", "required": True}])
    url = "/projects/p/pipelines/etl/triggers"
    assert pw.post(url, {"dataset": "nope", "param": "data"}).status_code == 422
    assert pw.post(url, {"dataset": "sales", "model": "m", "alias": "a"}).status_code == 422
    pw.cw.ingest("p", "sales", regions=[], sensitivity=Sensitivity.INTERNAL)
    assert pw.post(url, {"dataset": "sales", "param": "other"}).status_code == 422
    made = pw.post(url, {"dataset": "sales", "param": "data"})
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "dataset"
    assert made.json()["last_seen"] == 1
    gone = pw.http.delete(
        f"/api/v1/pipeline-triggers/{made.json()['id']}", headers=pw.auth("alice")
    )
    assert gone.status_code == 204


def test_step_runs_join_lineage_with_their_jobs_and_the_data_they_name(pw: PipelinesWorld) -> None:
    pw.register()
    ref = pw.cw.ingest("p", "sales", regions=[], sensitivity=Sensitivity.INTERNAL)
    rid = pw.run()["id"]
    row = pw.begin(
        rid,
        [
            {
                "key": "load",
                "step": "load",
                "job": pw.job_body(),
                "input_refs": [["dataset_version", ref]],
            }
        ],
    ).json()[0]
    pw.finish(
        rid,
        [
            {
                "key": "load",
                "state": "failed",
                "error": "x",
                "output_refs": [
                    ["dataset_version", ref],
                    ["dataset_version", "q/other@1"],
                    ["model_version", "nope@1"],
                ],
            }
        ],
    )
    step = Node(NodeKind.STEP_RUN, row["id"])
    with pw.runtime.db.read() as session:
        edges = {
            (e.src_kind, e.dst_kind)
            for e in session.scalars(
                select(LineageEdge).where(
                    (LineageEdge.src_id == row["id"]) | (LineageEdge.dst_id == row["id"])
                )
            )
        }
        assert edges == {
            ("job", "step_run"),
            ("dataset_version", "step_run"),
            ("step_run", "dataset_version"),
        }
        assert node_projects(session, [step]) == {step: pw.cw.project("p").id}
        assert node_names(session, [step]) == {step: "etl run 1 step load"}


def test_the_blob_sweep_keeps_outputs_logs_and_results(pw: PipelinesWorld) -> None:
    pw.register()
    rid = pw.run()["id"]
    row = _record(pw, rid, [5])
    pw.post(f"/pipeline-runs/{rid}/finish", {"state": "succeeded", "result_b64": output(7)})
    with pw.runtime.db.read() as session:
        kept = {d for query in referenced_blobs() for d in session.scalars(query)}
        jobs = session.scalars(select(Job)).all()
    assert row["output_digest"] in kept
    assert len(kept) == 3  # the output, its logs and the run's result
    assert jobs == []


def test_parameters_are_checked_by_their_json_types() -> None:
    spec = [
        {"name": "n", "type": "int", "required": True},
        {"name": "f", "type": "float", "required": False, "default": 1.0},
        {"name": "mode", "type": "Literal['a', 'b']", "required": False, "default": "a"},
        {"name": "day", "type": "datetime.date | None", "required": False, "default": None},
        {"name": "xs", "type": "list[int]", "required": False, "default": []},
    ]
    assert check_params(spec, {"n": 1, "f": 2, "day": "2026-01-02"})["f"] == 2
    for values, message in [
        ({}, "parameter 'n' is required"),
        ({"n": True}, "parameter 'n' must be an int, got True"),
        ({"n": 1, "mode": "c"}, "parameter 'mode' must be one of 'a', 'b'"),
        ({"n": 1, "day": "tomorrow"}, "parameter 'day' must be a date (ISO text) or null"),
        ({"n": 1, "xs": {"a": 1}}, "parameter 'xs' must be a list"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            check_params(spec, values)
        assert message in caught.value.message, values


def test_two_copies_of_one_begin_at_once_make_one_step_run_and_one_job(pw: PipelinesWorld) -> None:
    """A driver that resends a begin whose answer it lost, while the first is still in flight."""
    pw.register()
    rid = pw.run()["id"]
    batch = StepBeginBatch.model_validate(
        {"steps": [{"key": "load", "step": "load", "job": pw.job_body()}]}
    )
    project = pw.cw.project("p")
    principal = pw.cw.principals["alice"]
    barrier = threading.Barrier(2)

    def begin_once() -> str:
        barrier.wait()
        with pw.runtime.db.write() as session:
            run = runs.get(session, rid, lock=True)
            rows, _ = step_runs.begin(session, pw.runtime, run, project, principal, batch.steps)
            return rows[0].id

    with ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(lambda _: begin_once(), range(2)))
    assert ids[0] == ids[1]
    assert pw.counts()["compute_jobs"] == 1
    assert pw.counts()["pipeline_step_runs"] == 1


def test_driver_calls_are_audited_but_heartbeats_only_when_refused(pw: PipelinesWorld) -> None:
    pw.register()
    rid = pw.run()["id"]
    pw.begin(rid, [{"key": "a", "step": "a", "in_process": True}])
    assert pw.post(f"/pipeline-runs/{rid}/heartbeat", {}).status_code == 204
    events = pw.http.get("/api/v1/audit?limit=1000", headers=pw.auth("root")).json()
    actions = [e["action"] for e in events]
    assert "pipelines.begin_steps" in actions
    assert "pipelines.create_run" in actions
    assert "pipelines.heartbeat" not in actions
    with pw.runtime.db.read() as session:
        assert runs.get(session, rid).driver_seen_at is not None
