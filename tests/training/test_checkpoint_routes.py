"""Job checkpoints over the worker routes: stored by one attempt, read back by the next.

Attempts are opened as the scheduler opens them and the worker's calls go over HTTP with the
job token it would hold (as in tests/compute/test_job_tokens.py); no worker process runs here.
"""

from __future__ import annotations

from sqlalchemy import select

from corridor.compute import jobs
from corridor.compute.models import Checkpoint
from tests.compute.core_world import ComputeWorld, cw
from tests.compute.test_job_tokens import place, worker

__all__ = ["cw"]


def test_a_retry_reads_the_newest_checkpoint_of_the_job_and_a_replaced_attempt_is_fenced(
    cw: ComputeWorld,
) -> None:
    job_id = cw.submit("alice", retries=1, backoff_s=0).json()["id"]
    first = worker(cw, place(cw, job_id), job_id, 1)
    assert first("POST", "started", json={"host": "h", "pid": 7}).status_code == 200
    assert first("GET", "checkpoint").status_code == 404
    for step, body in ((5, b"five"), (10, b"ten"), (15, b"fifteen")):
        assert first("PUT", f"checkpoint?step={step}", content=body).status_code == 200
    newest = first("GET", "checkpoint")
    assert newest.content == b"fifteen"
    assert newest.headers["x-corridor-checkpoint-step"] == "15"
    assert newest.headers["x-corridor-checkpoint-attempt"] == "1"
    # The attempt fails; the retry reads what the failed attempt stored, and the failed
    # attempt can no longer store anything.
    ended = first("POST", "finished", json={"exit_code": 137, "error": "killed"})
    assert ended.json()["job_state"] == "retrying"
    assert first("PUT", "checkpoint?step=20", content=b"late").status_code == 409
    second = worker(cw, place(cw, job_id), job_id, 2)
    assert second("POST", "started", json={"host": "h", "pid": 8}).status_code == 200
    assert second("GET", "checkpoint").content == b"fifteen"
    # A retry that resumed at 15 and stored 16 supersedes it, even though 16 < 20 was never
    # reached by the first attempt.
    assert second("PUT", "checkpoint?step=16", content=b"sixteen").status_code == 200
    reply = second("GET", "checkpoint")
    assert (reply.content, reply.headers["x-corridor-checkpoint-attempt"]) == (b"sixteen", "2")
    # Only the newest two rows are kept; the sweep sees their blobs as referenced.
    with cw.runtime.db.read() as session:
        kept = session.execute(
            select(Checkpoint.attempt, Checkpoint.step).where(Checkpoint.job_id == job_id)
        ).all()
        referenced = {d for query in jobs.referenced_blobs() for d in session.scalars(query)}
    assert sorted(tuple(k) for k in kept) == [(1, 15), (2, 16)]
    assert cw.runtime.blobs.put(b"sixteen") in referenced
    assert cw.runtime.blobs.put(b"five") not in referenced


def test_a_checkpoint_needs_a_step_and_the_job_token_of_its_attempt(cw: ComputeWorld) -> None:
    job_id = cw.submit("alice").json()["id"]
    token = place(cw, job_id)
    call = worker(cw, token, job_id, 1)
    assert call("PUT", "checkpoint", content=b"x").status_code == 422
    assert call("PUT", "checkpoint?step=-1", content=b"x").status_code == 422
    other = cw.submit("alice").json()["id"]
    place(cw, other)
    assert worker(cw, token, other, 1)("GET", "checkpoint").status_code == 403
    user = worker(cw, cw.tokens["root"], job_id, 1)
    assert user("PUT", "checkpoint?step=1", content=b"x").status_code == 403


def test_a_checkpoint_larger_than_the_request_body_limit_streams_through(
    cw: ComputeWorld,
) -> None:
    job_id = cw.submit("alice").json()["id"]
    call = worker(cw, place(cw, job_id), job_id, 1)
    assert call("POST", "started", json={"host": "h", "pid": 7}).status_code == 200
    limit = cw.runtime.settings.max_body_bytes
    weights = bytes(range(256)) * (limit // 256 + 1)
    assert call("PUT", "checkpoint?step=1", content=weights).status_code == 200
    assert call("GET", "checkpoint").content == weights
    # Only the checkpoint route is exempt: the other worker routes keep the limit.
    assert call("POST", "heartbeat", content=b"x" * (limit + 1)).status_code == 413
