"""The pipelines routes over the in-process app, on SQLite and PostgreSQL: definitions, runs,
the driver's begin/finish/graph/finish calls, outputs, and refusals that write nothing."""

from __future__ import annotations

from typing import Any

from corridor.compute.sansio import payload
from corridor.pipelines import runs
from corridor.pipelines.run_starts import start_queued_run
from tests.pipelines.server_world import PipelinesWorld, b64, output, pw

__all__ = ["pw"]


def test_register_lists_shows_and_patches_a_pipeline(pw: PipelinesWorld) -> None:
    created = pw.register()
    assert created["name"] == "etl"
    assert created["runs"] == 0
    again = pw.register(description="nightly")
    assert again["id"] == created["id"]
    listed = pw.http.get("/api/v1/projects/p/pipelines", headers=pw.auth("vic")).json()
    assert [p["description"] for p in listed] == ["nightly"]
    patched = pw.http.patch(
        "/api/v1/projects/p/pipelines/etl",
        json={"max_concurrent_runs": 2},
        headers=pw.auth("alice"),
    )
    assert patched.json()["max_concurrent_runs"] == 2
    shown = pw.http.get("/api/v1/projects/p/pipelines/etl", headers=pw.auth("vic")).json()
    assert shown["max_concurrent_runs"] == 2


def test_unknown_pipeline_is_404_and_bad_names_are_refused(pw: PipelinesWorld) -> None:
    response = pw.start(name="nope")
    assert response.status_code == 404
    assert "pipeline 'nope' not found" in response.json()["error"]["message"]
    bad = pw.http.post(
        "/api/v1/projects/p/pipelines",
        json={"name": "no spaces", "module": "m", "qualname": "f"},
        headers=pw.auth("alice"),
    )
    assert bad.status_code == 422
    assert pw.counts()["pipelines"] == 0


def test_client_runs_start_running_and_are_numbered(pw: PipelinesWorld) -> None:
    pw.register()
    first = pw.run(params={"n": 5})
    second = pw.run()
    assert (first["number"], second["number"]) == (1, 2)
    assert first["state"] == "running"
    assert first["params"] == {"n": 5, "label": None}
    assert second["params"]["n"] == 3


def test_a_parameter_of_the_wrong_type_is_refused_by_name_and_nothing_is_written(
    pw: PipelinesWorld,
) -> None:
    pw.register()
    before = pw.counts()
    response = pw.start(params={"n": "abc"})
    assert response.status_code == 422
    assert "parameter 'n' must be an int, got 'abc'" in response.json()["error"]["message"]
    unknown = pw.start(params={"m": 1})
    assert unknown.status_code == 422
    assert "'m'" in unknown.json()["error"]["message"]
    assert pw.counts() == before


def test_a_client_run_past_the_concurrency_limit_is_queued(pw: PipelinesWorld) -> None:
    pw.register(max_concurrent_runs=1)
    assert pw.run()["state"] == "running"
    assert pw.run()["state"] == "queued"


def test_a_server_driven_run_is_queued_and_needs_a_snapshot(pw: PipelinesWorld) -> None:
    pw.register()
    assert pw.run(driver="job", trigger="api")["state"] == "queued"
    pw.register(name="nocode", snapshot=None)
    response = pw.start(name="nocode", driver="job")
    assert response.status_code == 422
    assert "no code snapshot" in response.json()["error"]["message"]


def _in_process(key: str, **values: Any) -> dict[str, Any]:
    return {"key": key, "step": key.split("[")[0], "in_process": True, **values}


def test_begin_is_idempotent_and_finish_records_the_output(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run()
    first = pw.begin(run["id"], [_in_process("load")]).json()
    again = pw.begin(run["id"], [_in_process("load")]).json()
    assert first[0]["id"] == again[0]["id"]
    assert first[0]["state"] == "running"
    done = pw.finish(
        run["id"],
        [
            {
                "key": "load",
                "state": "succeeded",
                "output_b64": output([1, 2, 3]),
                "output_kind": "json",
                "logs_b64": b64(b"hello\n"),
            }
        ],
    )
    assert done.status_code == 200, done.text
    assert done.json()[0]["state"] == "succeeded"
    assert done.json()[0]["output_digest"]
    repeat = pw.finish(run["id"], [{"key": "load", "state": "succeeded"}])
    assert repeat.status_code == 200
    other = pw.finish(run["id"], [{"key": "load", "state": "failed"}])
    assert other.status_code == 409
    got = pw.http.get(
        f"/api/v1/pipeline-runs/{run['id']}/steps/load/output", headers=pw.auth("vic")
    )
    assert payload.decode(got.content) == [1, 2, 3]
    logs = pw.http.get(f"/api/v1/pipeline-runs/{run['id']}/steps/load/logs", headers=pw.auth("vic"))
    assert logs.content == b"hello\n"


def test_an_in_process_step_may_be_recorded_in_one_finish(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run()
    response = pw.finish(
        run["id"],
        [
            {
                "key": "a",
                "state": "succeeded",
                "begin": _in_process("a"),
                "output_b64": output(1),
                "duration_ms": 0.5,
            },
            {"key": "b", "state": "skipped"},
        ],
    )
    assert response.status_code == 200, response.text
    assert [s["state"] for s in pw.view(run["id"])["steps"]] == ["succeeded", "skipped"]
    never_begun = pw.finish(run["id"], [{"key": "c", "state": "succeeded"}])
    assert never_begun.status_code == 422


def test_an_output_that_is_not_a_payload_is_refused_and_nothing_is_written(
    pw: PipelinesWorld,
) -> None:
    pw.register()
    run = pw.run()
    pw.begin(run["id"], [_in_process("load")])
    before = pw.counts()
    response = pw.finish(
        run["id"],
        [
            {"key": "x", "state": "skipped"},
            {"key": "load", "state": "succeeded", "output_b64": b64(b"not a payload")},
        ],
    )
    assert response.status_code == 422
    assert "step 'load'" in response.json()["error"]["message"]
    assert pw.counts() == before
    assert pw.view(run["id"])["steps"][0]["state"] == "running"


def test_begin_queues_the_job_once_and_a_group_shares_one_job(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run()
    steps = [
        {"key": "load", "step": "load", "job": pw.job_body()},
        {
            "key": "clean[0]",
            "step": "clean",
            "parent_key": "clean",
            "item_index": 0,
            "job_group": "c0",
            "job": pw.job_body(),
        },
        {
            "key": "clean[1]",
            "step": "clean",
            "parent_key": "clean",
            "item_index": 1,
            "job_group": "c0",
        },
    ]
    first = pw.begin(run["id"], steps)
    assert first.status_code == 200, first.text
    rows = first.json()
    assert rows[0]["job_id"]
    assert rows[1]["job_id"] == rows[2]["job_id"]
    assert rows[0]["job_id"] != rows[1]["job_id"]
    jobs = pw.counts()["compute_jobs"]
    assert jobs == 2
    again = pw.begin(run["id"], steps).json()
    assert [r["id"] for r in again] == [r["id"] for r in rows]
    assert pw.counts()["compute_jobs"] == jobs
    job = pw.http.get(f"/api/v1/jobs/{rows[0]['job_id']}", headers=pw.auth("vic")).json()
    assert job["state"] == "queued"


def test_a_job_compute_refuses_names_the_step_and_nothing_is_written(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run()
    before = pw.counts()
    response = pw.begin(
        run["id"],
        [
            {"key": "ok", "step": "ok", "job": pw.job_body()},
            {"key": "big", "step": "big", "job": pw.job_body(cpus=1000)},
        ],
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("step 'big': ")
    assert pw.counts() == before


def test_a_batch_past_the_limit_is_refused_and_nothing_is_written(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run()
    before = pw.counts()
    steps = [_in_process(f"s[{i}]") for i in range(10_001)]
    assert pw.begin(run["id"], steps).status_code == 422
    twice = pw.begin(run["id"], [_in_process("a"), _in_process("a")])
    assert twice.status_code == 422
    assert pw.counts() == before


def test_an_ended_run_refuses_begin_finish_and_graph(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run()
    assert (
        pw.http.put(
            f"/api/v1/pipeline-runs/{run['id']}/graph",
            json={"graph": {"nodes": {}}},
            headers=pw.auth("alice"),
        ).status_code
        == 204
    )
    ended = pw.post(
        f"/pipeline-runs/{run['id']}/finish",
        {"state": "succeeded", "result_b64": output({"total": 6}), "result_kind": "json"},
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["state"] == "succeeded"
    again = pw.post(f"/pipeline-runs/{run['id']}/finish", {"state": "succeeded"})
    assert again.status_code == 200
    assert pw.post(f"/pipeline-runs/{run['id']}/finish", {"state": "failed"}).status_code == 409
    refused = pw.begin(run["id"], [_in_process("late")])
    assert refused.status_code == 409
    assert "pipeline run 1 has ended (succeeded)" in refused.json()["error"]["message"]
    assert pw.finish(run["id"], [{"key": "late", "state": "skipped"}]).status_code == 409
    result = pw.http.get(f"/api/v1/pipeline-runs/{run['id']}/result", headers=pw.auth("vic"))
    assert payload.decode(result.content) == {"total": 6}


def test_the_graph_is_posted_once(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run()
    url = f"/api/v1/pipeline-runs/{run['id']}/graph"
    graph = {"pipeline": "etl", "nodes": {"load": {}, "clean": {}}}
    assert pw.http.put(url, json={"graph": graph}, headers=pw.auth("alice")).status_code == 204
    assert pw.http.put(url, json={"graph": graph}, headers=pw.auth("alice")).status_code == 204
    other = pw.http.put(url, json={"graph": {"nodes": {}}}, headers=pw.auth("alice"))
    assert other.status_code == 409
    assert pw.view(run["id"])["graph"] == graph


def test_steps_are_shown_in_graph_order_with_items_after_their_map(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run()
    graph = {"nodes": {"load": {}, "clean": {}, "total": {}}}
    pw.http.put(
        f"/api/v1/pipeline-runs/{run['id']}/graph", json={"graph": graph}, headers=pw.auth("alice")
    )
    pw.begin(
        run["id"],
        [
            _in_process("total"),
            _in_process("clean[1]", parent_key="clean", item_index=1),
            _in_process("clean"),
            _in_process("clean[0]", parent_key="clean", item_index=0),
            _in_process("load"),
        ],
    )
    keys = [s["key"] for s in pw.view(run["id"])["steps"]]
    assert keys == ["load", "clean", "clean[0]", "clean[1]", "total"]


def test_viewers_cannot_drive_a_run_and_outsiders_cannot_see_it(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run()
    assert pw.begin(run["id"], [_in_process("a")], user="vic").status_code == 403
    assert (
        pw.http.get(f"/api/v1/pipeline-runs/{run['id']}", headers=pw.auth("bob")).status_code == 404
    )
    assert (
        pw.http.get("/api/v1/pipeline-runs/" + "0" * 32, headers=pw.auth("alice")).status_code
        == 404
    )


def test_runs_are_listed_newest_first_in_pages(pw: PipelinesWorld) -> None:
    pw.register()
    ids = [pw.run()["id"] for _ in range(3)]
    page = pw.http.get(
        "/api/v1/projects/p/pipeline-runs?limit=2&pipeline=etl", headers=pw.auth("vic")
    )
    assert [r["id"] for r in page.json()] == ids[::-1][:2]
    token = page.headers["x-corridor-next-page-token"]
    rest = pw.http.get(
        f"/api/v1/projects/p/pipeline-runs?limit=2&pipeline=etl&page_token={token}",
        headers=pw.auth("vic"),
    )
    assert [r["id"] for r in rest.json()] == ids[:1]
    listed = pw.http.get("/api/v1/projects/p/pipelines", headers=pw.auth("vic")).json()
    assert listed[0]["runs"] == 3
    assert listed[0]["last_run_state"] == "running"


def test_a_queued_client_run_can_wait_until_it_runs(pw: PipelinesWorld) -> None:
    pw.register(max_concurrent_runs=1)
    first = pw.run()
    waiting = pw.run()
    url = f"/api/v1/pipeline-runs/{waiting['id']}?wait_s=0.3&while_state=queued"
    assert pw.http.get(url, headers=pw.auth("alice")).json()["run"]["state"] == "queued"
    pw.post(f"/pipeline-runs/{first['id']}/finish", {"state": "succeeded"})
    with pw.runtime.db.write() as session:
        start_queued_run(session, pw.runtime, runs.get(session, waiting["id"]))
    answer = pw.http.get(url.replace("0.3", "30"), headers=pw.auth("alice")).json()
    assert answer["run"]["state"] == "running"
