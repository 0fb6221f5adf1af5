"""The worker's side: job tokens, fencing, the state machine, leases, cancel, energy.

Attempts are opened as the scheduler opens them (`attempts.open_attempt`), and the worker's
calls go over HTTP with the job token it would hold; no worker process is started here (the
end-to-end path with real workers is in test_scheduler_loop.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from corridor.compute import attempt_sweeps, attempts, jobs
from corridor.compute.models import Attempt
from corridor.data.sansio.sensitivity import Sensitivity
from corridor.store.base import utcnow
from corridor.tracking import experiments, runs
from tests.compute.core_world import ComputeWorld, cw

__all__ = ["cw"]


def place(cw: ComputeWorld, job_id: str, *, site: str = "eu", lease_s: float = 60.0) -> str:
    """Open the job's next attempt as the scheduler would; return its job token."""
    with cw.runtime.db.write() as session:
        job = jobs.get(session, job_id)
        return attempts.open_attempt(session, job, site=site, now=utcnow(), lease_s=lease_s).token


def worker(cw: ComputeWorld, token: str, job_id: str, attempt: int) -> Any:
    """Call a worker route of ``job_id``/``attempt`` with ``token``."""

    def call(method: str, tail: str, **kwargs: Any) -> Any:
        return cw.http.request(
            method,
            f"/api/v1/jobs/{job_id}/attempts/{attempt}/{tail}",
            headers={"authorization": f"Bearer {token}"},
            **kwargs,
        )

    return call


def test_a_job_runs_and_its_logs_read_back_exactly_as_written(cw: ComputeWorld) -> None:
    job_id = cw.submit("alice", command=["echo", "hi"], env={"X": "1"}).json()["id"]
    token = place(cw, job_id)
    call = worker(cw, token, job_id, 1)
    work = call("GET", "work").json()
    assert work["argv"] == ["echo", "hi"]
    assert work["env"] == {"X": "1"}
    assert call("POST", "started", json={"host": "h", "pid": 7}).status_code == 200
    assert cw.job(job_id).state == "running"
    chunks = [b"hello ", b"\x00\xff raw ", b"world\n"]
    for seq, data in enumerate(chunks):
        assert call("POST", f"logs?seq={seq}", content=data).status_code == 200
    # A chunk sent again (a retried request) is stored once.
    assert call("POST", "logs?seq=1", content=chunks[1]).status_code == 200
    logs = cw.http.get(f"/api/v1/jobs/{job_id}/logs", headers=cw.auth("vic"))
    assert logs.content == b"".join(chunks)
    assert logs.headers["x-corridor-next-offset"] == str(len(b"".join(chunks)))
    part = cw.http.get(f"/api/v1/jobs/{job_id}/logs?offset=3", headers=cw.auth("vic"))
    assert part.content == b"".join(chunks)[3:]
    done = call(
        "POST", "finished", json={"exit_code": 0, "energy_j": 3600.0, "energy_method": "rapl"}
    )
    assert done.json()["job_state"] == "succeeded"
    job = cw.job(job_id)
    assert (job.state, job.exit_code, job.energy_j, job.energy_method) == (
        "succeeded",
        0,
        3600.0,
        "rapl",
    )
    # 3600 J = 1 Wh at PUE 1.5 and 300 g/kWh: 0.45 g.
    assert job.carbon_g == pytest.approx(0.45)


def test_a_job_token_reads_only_its_own_job(cw: ComputeWorld) -> None:
    mine = cw.submit("alice", command=["echo", "mine"]).json()["id"]
    other = cw.submit("alice", command=["echo", "other"]).json()["id"]
    token = place(cw, mine)
    place(cw, other)
    headers = {"authorization": f"Bearer {token}"}
    # Another job's worker routes, and another attempt of its own job.
    assert worker(cw, token, other, 1)("GET", "work").status_code == 403
    assert worker(cw, token, mine, 2)("GET", "work").status_code == 403
    # User routes: the other job's logs, its own job, the project's datasets and runs.
    for path in (
        f"/api/v1/jobs/{other}/logs",
        f"/api/v1/jobs/{mine}/logs",
        f"/api/v1/jobs/{mine}",
        "/api/v1/projects/p/datasets",
        "/api/v1/projects/p/runs",
        "/api/v1/projects/p/jobs",
        "/api/v1/auth/whoami",
    ):
        reply = cw.http.get(path, headers=headers)
        assert reply.status_code == 403, path
        assert "job token" in reply.json()["error"]["message"]
    # A user token cannot call a worker route, even the admin's.
    assert worker(cw, cw.tokens["root"], mine, 1)("GET", "work").status_code == 403


def test_a_job_token_logs_only_to_its_linked_run(cw: ComputeWorld) -> None:
    with cw.runtime.db.write() as session:
        exp = experiments.create_experiment(session, cw.project("p"), "e")
        linked = runs.create_run(session, exp.experiment_id, user="alice").info.run_id
        other = runs.create_run(session, exp.experiment_id, user="alice").info.run_id
    job_id = cw.submit("alice", run_id=linked).json()["id"]
    unlinked = cw.submit("alice").json()["id"]
    token = place(cw, job_id)
    point = {"metrics": [{"key": "loss", "value": 0.5, "step": 1, "timestamp_ms": 1000}]}
    assert worker(cw, token, job_id, 1)("POST", "run-metrics", json=point).status_code == 200
    with cw.runtime.db.read() as session:
        assert runs.get_run(session, linked).metrics["loss"].value == 0.5
    # The tracking routes of any run (the other one included) refuse the job token.
    batch = {"metrics": [{"key": "loss", "value": 1, "timestamp": 1}], "params": [], "tags": []}
    headers = {"authorization": f"Bearer {token}"}
    reply = cw.http.post(f"/api/v1/runs/{other}/batch", json=batch, headers=headers)
    assert reply.status_code == 403
    # A job with no linked run has nowhere to log.
    token2 = place(cw, unlinked)
    assert worker(cw, token2, unlinked, 1)("POST", "run-metrics", json=point).status_code == 409
    with cw.runtime.db.read() as session:
        assert "loss" not in runs.get_run(session, other).metrics


def test_a_stale_attempt_is_fenced_on_every_write(cw: ComputeWorld) -> None:
    job_id = cw.submit("alice").json()["id"]
    stale = place(cw, job_id, lease_s=0.001)
    old = worker(cw, stale, job_id, 1)
    assert old("POST", "started", json={"host": "h", "pid": 1}).status_code == 200
    # Its lease runs out: the sweep declares it lost, and the job is retried as attempt 2.
    lease_s = cw.runtime.settings.job_lease_s
    later = utcnow() + dt.timedelta(seconds=lease_s * 3)
    with cw.runtime.db.write() as session:
        ended = attempt_sweeps.expire_leases(session, now=later, lease_s=lease_s, sites={})
    assert ended == [(job_id, 1)]
    assert cw.job(job_id).state == "retrying"
    fresh = place(cw, job_id)
    new = worker(cw, fresh, job_id, 2)
    assert new("POST", "started", json={"host": "h2", "pid": 2}).status_code == 200
    # The old worker is still alive somewhere: every call it makes is refused.
    for method, tail, kwargs in (
        ("POST", "heartbeat", {"json": {}}),
        ("POST", "logs?seq=0", {"content": b"late"}),
        ("PUT", "result", {"content": b"late result"}),
        ("POST", "finished", {"json": {"exit_code": 0}}),
    ):
        reply = old(method, tail, **kwargs)
        assert reply.status_code == 409, (tail, reply.text)
    assert new("POST", "finished", json={"exit_code": 0}).json()["job_state"] == "succeeded"
    job = cw.job(job_id)
    assert (job.state, job.attempts) == ("succeeded", 2)
    listed = cw.http.get(f"/api/v1/jobs/{job_id}/attempts", headers=cw.auth("vic")).json()
    assert [(a["number"], a["state"], a["host"]) for a in listed] == [
        (1, "lost", "h"),
        (2, "succeeded", "h2"),
    ]


def test_failures_retry_with_backoff_until_retries_run_out(cw: ComputeWorld) -> None:
    job_id = cw.submit("alice", retries=1, backoff_s=30).json()["id"]
    token = place(cw, job_id)
    before = utcnow()
    reply = worker(cw, token, job_id, 1)("POST", "finished", json={"exit_code": 3})
    assert reply.json()["job_state"] == "retrying"
    job = cw.job(job_id)
    assert job.not_before is not None
    assert job.not_before >= before + dt.timedelta(seconds=29)
    assert job.error == "exited with status 3"
    token = place(cw, job_id)
    reply = worker(cw, token, job_id, 2)("POST", "finished", json={"exit_code": 1, "error": "boom"})
    assert reply.json()["job_state"] == "failed"
    assert cw.job(job_id).error == "boom"


def test_a_function_that_stores_no_result_fails(cw: ComputeWorld) -> None:
    from tests.compute.core_world import tarball

    digest, data = tarball({"m.py": b"def f(): pass\n"})
    cw.http.put(f"/api/v1/snapshot-uploads/p/{digest}", content=data, headers=cw.auth("alice"))
    job_id = cw.submit(
        "alice", command=None, function={"module": "m", "qualname": "f"}, snapshot=digest
    ).json()["id"]
    token = place(cw, job_id)
    call = worker(cw, token, job_id, 1)
    assert call("GET", "snapshot").content == data
    assert call("GET", "input").status_code == 404
    reply = call("POST", "finished", json={"exit_code": 0})
    assert reply.json()["job_state"] == "failed"
    # With a result it succeeds, and the result reads back to users.
    job2 = cw.submit(
        "alice", command=None, function={"module": "m", "qualname": "f"}, snapshot=digest
    ).json()["id"]
    call2 = worker(cw, place(cw, job2), job2, 1)
    assert call2("PUT", "result", content=b"encoded").status_code == 200
    assert call2("POST", "finished", json={"exit_code": 0}).json()["job_state"] == "succeeded"
    result = cw.http.get(f"/api/v1/jobs/{job2}/result", headers=cw.auth("vic"))
    assert result.content == b"encoded"
    assert cw.http.get(f"/api/v1/jobs/{job_id}/result", headers=cw.auth("vic")).status_code == 409


def test_cancel_queued_at_once_running_through_its_worker(cw: ComputeWorld) -> None:
    queued = cw.submit("alice").json()["id"]
    reply = cw.http.post(f"/api/v1/jobs/{queued}/cancel", headers=cw.auth("alice"))
    assert reply.json()["state"] == "cancelled"
    running = cw.submit("alice").json()["id"]
    token = place(cw, running)
    call = worker(cw, token, running, 1)
    call("POST", "started", json={"host": "h", "pid": 1})
    reply = cw.http.post(f"/api/v1/jobs/{running}/cancel", headers=cw.auth("alice"))
    assert (reply.json()["state"], reply.json()["cancel_requested"]) == ("running", True)
    assert call("POST", "heartbeat", json={}).json()["cancel"] is True
    reply = call("POST", "finished", json={"exit_code": 143, "error": "cancelled"})
    assert reply.json()["job_state"] == "cancelled"
    # A job that ended cannot be cancelled; a cancelled one stays cancelled.
    again = cw.http.post(f"/api/v1/jobs/{running}/cancel", headers=cw.auth("alice"))
    assert again.json()["state"] == "cancelled"
    # A placed job is cancelled at once, and its worker is fenced off.
    placed = cw.submit("alice").json()["id"]
    token = place(cw, placed)
    cw.http.post(f"/api/v1/jobs/{placed}/cancel", headers=cw.auth("alice"))
    assert (
        worker(cw, token, placed, 1)("POST", "started", json={"host": "h", "pid": 1}).status_code
        == 409
    )
    # A worker that does not answer the cancel is stopped after the grace.
    stuck = cw.submit("alice").json()["id"]
    call = worker(cw, place(cw, stuck), stuck, 1)
    call("POST", "started", json={"host": "h", "pid": 1})
    cw.http.post(f"/api/v1/jobs/{stuck}/cancel", headers=cw.auth("alice"))
    with cw.runtime.db.write() as session:
        ended = attempt_sweeps.force_cancels(
            session, now=utcnow() + dt.timedelta(seconds=60), grace_s=10
        )
    assert ended == [(stuck, 1)]
    assert cw.job(stuck).state == "cancelled"


def test_a_viewer_cannot_cancel_and_a_finished_job_cannot_be(cw: ComputeWorld) -> None:
    job_id = cw.submit("alice").json()["id"]
    assert cw.http.post(f"/api/v1/jobs/{job_id}/cancel", headers=cw.auth("vic")).status_code == 403
    call = worker(cw, place(cw, job_id), job_id, 1)
    call("POST", "finished", json={"exit_code": 0})
    reply = cw.http.post(f"/api/v1/jobs/{job_id}/cancel", headers=cw.auth("alice"))
    assert reply.status_code == 409


def test_timeouts_fail_the_attempt(cw: ComputeWorld) -> None:
    job_id = cw.submit("alice", timeout="1s").json()["id"]
    call = worker(cw, place(cw, job_id), job_id, 1)
    call("POST", "started", json={"host": "h", "pid": 1})
    with cw.runtime.db.write() as session:
        ended = attempt_sweeps.enforce_timeouts(
            session, now=utcnow() + dt.timedelta(seconds=30), grace_s=2, sites={}
        )
    assert ended == [(job_id, 1)]
    job = cw.job(job_id)
    assert (job.state, job.error) == ("failed", "timed out after 1s")


def test_a_worker_reads_the_datasets_its_job_declared(cw: ComputeWorld) -> None:
    ref = cw.ingest("p", "sales", regions=["eu-west"], sensitivity=Sensitivity.INTERNAL)
    job_id = cw.submit("alice", datasets=[ref]).json()["id"]
    call = worker(cw, place(cw, job_id), job_id, 1)
    assert call("GET", "work").json()["datasets"] == [ref]
    data = call("GET", "datasets/0")
    assert data.status_code == 200
    assert data.content[:4] == b"PAR1"
    assert call("GET", "datasets/1").status_code == 404


def test_energy_reports_roll_up_the_jobs_that_ran(cw: ComputeWorld) -> None:
    for joules in (1000.0, 2000.0):
        job_id = cw.submit("alice").json()["id"]
        call = worker(cw, place(cw, job_id, site="us"), job_id, 1)
        call(
            "POST", "finished", json={"exit_code": 0, "energy_j": joules, "energy_method": "model"}
        )
    rows = cw.http.get("/api/v1/energy/report?by=site", headers=cw.auth("vic")).json()
    assert rows == [
        {
            "key": "us",
            "jobs": 2,
            "energy_j": 3000.0,
            "carbon_g": pytest.approx(3000 / 3.6e6 * 100),
            "cost": pytest.approx(3000 / 3.6e6 * 0.1),
            "methods": ["model"],
        }
    ]
    assert cw.http.get("/api/v1/energy/report", headers=cw.auth("bob")).json() == []


def test_sites_list_capacity_and_what_jobs_hold(cw: ComputeWorld) -> None:
    job_id = cw.submit("alice", cpus=3, gpus=1).json()["id"]
    place(cw, job_id, site="eu")
    sites = {s["name"]: s for s in cw.http.get("/api/v1/sites", headers=cw.auth("bob")).json()}
    assert sites["eu"]["capacity"] == {"cpus": 8.0, "memory_bytes": 32 << 30, "gpus": 2.0}
    assert sites["eu"]["used"] == {"cpus": 3.0, "memory_bytes": 0, "gpus": 1.0}
    assert sites["us"]["carbon_g_per_kwh_now"] == 100.0


def test_explain_before_and_after_a_decision(cw: ComputeWorld) -> None:
    job_id = cw.submit("alice").json()["id"]
    reply = cw.http.get(f"/api/v1/jobs/{job_id}/explain", headers=cw.auth("vic")).json()
    assert reply["chosen"] is None
    assert "not considered" in reply["reason"]


def test_the_lost_attempt_row_keeps_its_history(cw: ComputeWorld) -> None:
    job_id = cw.submit("alice").json()["id"]
    place(cw, job_id, lease_s=0.001)
    with cw.runtime.db.write() as session:
        attempt_sweeps.expire_leases(
            session, now=utcnow() + dt.timedelta(seconds=5), lease_s=0.001, sites={}
        )
    with cw.runtime.db.read() as session:
        row = session.get(Attempt, (job_id, 1))
        assert row is not None
        assert row.state == "lost"
        assert row.error is not None
        assert "no heartbeat" in row.error


def test_submit_cancel_and_worker_reports_are_audited_but_heartbeats_are_not(
    cw: ComputeWorld,
) -> None:
    from sqlalchemy import select

    from corridor.security.models import AuditEvent

    def actions() -> list[str]:
        with cw.runtime.db.read() as session:
            return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))

    job_id = cw.submit("alice").json()["id"]
    call = worker(cw, place(cw, job_id), job_id, 1)
    call("POST", "started", json={"host": "h", "pid": 1})
    before = actions()
    for _ in range(3):
        assert call("POST", "heartbeat", json={}).status_code == 200
    assert call("POST", "logs?seq=0", content=b"x").status_code == 200
    assert actions() == before
    cw.http.post(f"/api/v1/jobs/{job_id}/cancel", headers=cw.auth("alice"))
    call("POST", "finished", json={"exit_code": 143})
    # A refused heartbeat (the attempt ended) is audited like every refusal.
    assert call("POST", "heartbeat", json={}).status_code == 409
    audited = actions()
    assert "compute.submit_job" in audited
    assert audited[len(before) :] == [
        "compute.cancel_job",
        "compute.finished",
        "compute.heartbeat",
    ]


def test_an_ended_attempts_token_is_fenced_then_unknown(cw: ComputeWorld) -> None:
    from corridor.security import identity

    job_id = cw.submit("alice").json()["id"]
    call = worker(cw, place(cw, job_id), job_id, 1)
    assert call("POST", "finished", json={"exit_code": 0}).status_code == 200
    # Right after its attempt ended, the token still authenticates, and hears it is fenced off.
    assert call("POST", "heartbeat", json={}).status_code == 409
    with cw.runtime.db.write() as session:
        gone = identity.delete_expired_job_tokens(session, before=utcnow() + dt.timedelta(hours=2))
    assert gone == 1
    assert call("POST", "heartbeat", json={}).status_code == 401


def test_deferred_and_impossible_decisions_are_stored_on_the_job(cw: ComputeWorld) -> None:
    from corridor.compute.sansio.placement import Candidate, Decision
    from corridor.compute.scheduler_rows import Holding, read_queue
    from corridor.compute.scheduling import Scheduling
    from corridor.compute.site_table import current_sites

    later = cw.submit("alice", deadline=(utcnow() + dt.timedelta(days=1)).isoformat()).json()
    doomed = cw.submit("alice").json()
    with cw.runtime.db.read() as session:
        queue = {job.id: job for job in read_queue(session)}
    scheduling = Scheduling(cw.runtime)
    now = utcnow()
    start = now.timestamp() + 3600
    candidates = (Candidate("eu", True, 1.0, "cheapest carbon at 10:00", carbon_g=2.0),)
    deferred = Decision(later["id"], "eu", start, candidates, "deferred to the low-carbon hour")
    impossible = Decision(doomed["id"], None, None, (), "no site has 3 GPUs", impossible=True)
    sites = current_sites(cw.runtime.settings)
    assert scheduling.apply(deferred, queue[later["id"]], sites, Holding(), now) == 1
    assert scheduling.apply(impossible, queue[doomed["id"]], sites, Holding(), now) == 1
    job = cw.job(later["id"])
    assert job.state == "queued"
    assert job.not_before is not None
    assert job.not_before.timestamp() == pytest.approx(start)
    explained = cw.http.get(f"/api/v1/jobs/{later['id']}/explain", headers=cw.auth("vic")).json()
    assert explained["chosen"] == "eu"
    assert explained["reason"] == "deferred to the low-carbon hour"
    assert explained["candidates"][0]["carbon_g"] == 2.0
    assert (cw.job(doomed["id"]).state, cw.job(doomed["id"]).error) == (
        "failed",
        "no site has 3 GPUs",
    )


def test_wait_returns_the_job_as_it_is_when_its_timeout_passes_or_once_it_ended(
    cw: ComputeWorld,
) -> None:
    job_id = cw.submit("alice").json()["id"]
    waited = cw.http.get(f"/api/v1/jobs/{job_id}/wait?timeout_s=0", headers=cw.auth("vic"))
    assert waited.json()["state"] == "queued"
    call = worker(cw, place(cw, job_id), job_id, 1)
    call("POST", "logs?seq=0", content=b"done\n")
    call("POST", "finished", json={"exit_code": 0})
    waited = cw.http.get(f"/api/v1/jobs/{job_id}/wait?timeout_s=60", headers=cw.auth("vic"))
    assert waited.json()["state"] == "succeeded"
    # Following the logs of a job that ended returns what there is, then nothing more.
    logs = cw.http.get(f"/api/v1/jobs/{job_id}/logs?follow=true", headers=cw.auth("vic"))
    assert (logs.content, logs.headers["x-corridor-job-state"]) == (b"done\n", "succeeded")
    end = logs.headers["x-corridor-next-offset"]
    tail = cw.http.get(
        f"/api/v1/jobs/{job_id}/logs?follow=true&offset={end}", headers=cw.auth("vic")
    )
    assert tail.content == b""
    assert tail.headers["x-corridor-next-offset"] == end
    assert (
        cw.http.get(f"/api/v1/jobs/{job_id}/logs?attempt=2", headers=cw.auth("vic")).status_code
        == 404
    )


def test_fair_share_counts_what_placed_jobs_hold_gpus_included(cw: ComputeWorld) -> None:
    from corridor.compute.sansio.queue import GPU_CPU_EQUIVALENT
    from corridor.compute.scheduler_rows import read_holding

    gpu_job = cw.submit("alice", cpus=1, gpus=1).json()["id"]
    cpu_job = cw.submit("bob", project="q", cpus=2).json()["id"]
    place(cw, gpu_job)
    place(cw, cpu_job, site="us")
    with cw.runtime.db.read() as session:
        holding = read_holding(session)
    # One GPU job weighs more than two CPUs: fair share must not see its project as idle.
    assert holding.by_project == {"p": 1 + GPU_CPU_EQUIVALENT, "q": 2.0}


def test_a_gang_succeeds_when_every_rank_has_and_fails_with_the_first_that_fails(
    cw: ComputeWorld,
) -> None:
    ok = {"exit_code": 0, "energy_j": 10.0, "energy_method": "cpu-time-model", "cpu_s": 1.0}
    gang = cw.submit("alice", workers=2, cpus=1).json()["id"]
    call = worker(cw, place(cw, gang), gang, 1)
    assert call("POST", "started", json={"host": "h", "pid": 1}).status_code == 200
    assert call("POST", "finished", json={**ok, "rank": 0}).status_code == 200
    assert cw.job(gang).state == "running"  # rank 1 has not reported
    assert call("POST", "finished", json={**ok, "rank": 0}).status_code == 200  # sent again
    assert cw.job(gang).state == "running"
    assert call("POST", "finished", json={**ok, "rank": 1}).status_code == 200
    done = cw.job(gang)
    assert (done.state, done.energy_j) == ("succeeded", 20.0)

    failing = cw.submit("alice", workers=2, cpus=1).json()["id"]
    call = worker(cw, place(cw, failing), failing, 1)
    failed = {"exit_code": 1, "error": "rank 1: exited with status 1", "rank": 1}
    assert call("POST", "finished", json=failed).status_code == 200
    assert (cw.job(failing).state, cw.job(failing).error) == ("failed", failed["error"])
    # The other rank is fenced off, but what it still prints is kept for a few seconds.
    assert call("POST", "heartbeat", json={}).status_code == 409
    assert call("POST", "logs?seq=0", content=b"rank 0's last words").status_code == 200
