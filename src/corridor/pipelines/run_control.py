"""Retrying and cancelling pipeline runs.

Retry resumes a failed or cancelled run in place (same id, number, parameters and graph): its
succeeded and cached step runs stay and are reused as they are; step runs that failed, were
skipped, upstream-failed or cancelled are deleted and run again, as are running ones that can
no longer finish (an in-process step whose driver died, a step whose job ended without
succeeding). A running step run whose job still runs or has succeeded is kept: the new driver
begins it, finds the job and waits for it, so no step is run twice. The run goes back to
``queued`` and is driven by a driver job (the loop starts it).

Cancel ends a queued or running run as cancelled: its running step runs are cancelled, their
live jobs and the driver job are cancelled through compute, and the run token is revoked.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.compute import jobs
from corridor.compute.models import Job
from corridor.compute.sansio.states import TERMINAL, JobState
from corridor.errors import Conflict, InvalidInput
from corridor.lineage.graph import Node, NodeKind, remove_node
from corridor.pipelines import runs
from corridor.pipelines.models import PipelineRun, StepRun
from corridor.store.base import utcnow

RETRIED_STATES = frozenset({"failed", "upstream_failed", "cancelled", "skipped"})


def _job_states(session: Session, job_ids: set[str]) -> dict[str, str]:
    ids = sorted(job_ids)
    found: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        found.update(
            session.execute(select(Job.id, Job.state).where(Job.id.in_(ids[i : i + 500]))).all()
        )
    return found


def _cannot_finish(row: StepRun, job_states: dict[str, str]) -> bool:
    if row.state in RETRIED_STATES:
        return True
    if row.state not in ("running", "pending"):
        return False
    if row.job_id is None:
        # In-process (its driver is gone), or a map node whose items decide it again.
        return True
    state = job_states.get(row.job_id)
    return state is None or (JobState(state) in TERMINAL and state != JobState.SUCCEEDED)


def retry(session: Session, run: PipelineRun, *, now: dt.datetime | None = None) -> int:
    """Reopen a failed or cancelled run as ``queued`` (see the module docstring); the number of
    step runs deleted to run again."""
    now = now or utcnow()
    if run.state not in ("failed", "cancelled"):
        raise Conflict(
            f"pipeline run {run.number} is {run.state}: only a failed or cancelled run can be "
            "retried"
        )
    if run.snapshot is None:
        raise InvalidInput(
            f"pipeline run {run.number} has no code snapshot, so the server cannot drive it: "
            "run the pipeline file again (its cached steps are reused)"
        )
    rows = list(session.scalars(select(StepRun).where(StepRun.run_id == run.id)))
    job_states = _job_states(session, {r.job_id for r in rows if r.job_id is not None})
    dropped = [r for r in rows if _cannot_finish(r, job_states)]
    for row in dropped:
        remove_node(session, Node(NodeKind.STEP_RUN, row.id))
        session.delete(row)
    detail = dict(run.trigger_detail or {})
    detail["retries"] = int(detail.get("retries") or 0) + 1
    detail["retried_at"] = now.isoformat()
    run.trigger_detail = detail
    run.state = "queued"
    run.driver = "job"
    run.driver_job_id = None
    run.run_token_id = None
    run.error = None
    run.result_digest = None
    run.result_kind = None
    run.started_at = None
    run.ended_at = None
    run.driver_seen_at = None
    session.flush()
    return len(dropped)


def cancel(session: Session, run: PipelineRun, *, now: dt.datetime | None = None) -> list[str]:
    """Cancel a queued or running run; the ids of the jobs asked to stop (the caller wakes
    compute's scheduler after its commit). Cancelling a cancelled run is a no-op."""
    now = now or utcnow()
    if run.state == "cancelled":
        return []
    if run.state in runs.TERMINAL:
        raise Conflict(
            f"pipeline run {run.number} has ended ({run.state}); there is nothing to cancel"
        )
    live = list(
        session.scalars(
            select(StepRun).where(
                StepRun.run_id == run.id, StepRun.state.in_(("running", "pending"))
            )
        )
    )
    job_ids = {r.job_id for r in live if r.job_id is not None}
    if run.driver_job_id is not None:
        job_ids.add(run.driver_job_id)
    cancelled = []
    for job_id, state in sorted(_job_states(session, job_ids).items()):
        if JobState(state) not in TERMINAL:
            jobs.cancel(session, job_id, now=now)
            cancelled.append(job_id)
    for row in live:
        row.state = "cancelled"
        row.ended_at = now
        row.error = row.error or "the pipeline run was cancelled"
    runs.end_run(session, run, "cancelled", error="cancelled", now=now)
    return cancelled
