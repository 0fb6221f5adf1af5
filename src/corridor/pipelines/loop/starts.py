"""The run queue and the watchdog in the loop: queued runs start as their pipeline has room,
and running runs whose driver is gone end as failed.

Starting takes the pipeline's row lock, counts its running runs and starts the oldest queued
ones up to ``max_concurrent_runs``, in one transaction per pipeline: two leaders, or a leader
and a ``corridor run`` creating a client-driven run, take turns on that lock, so the limit
holds. A run compute refuses to start (its creator disabled, its snapshot gone) is failed with
the reason rather than left queued forever.

The watchdog reads the driver's signs of life from rows only: a driver job that ended while
its run is still open, or a client driver whose last report is older than `DRIVER_SILENCE_S`
(counted from this server's start at the earliest, so an outage of the server is not blamed
on the driver).
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select

from corridor.compute.models import Job
from corridor.compute.sansio.states import TERMINAL
from corridor.errors import CorridorError
from corridor.pipelines import runs
from corridor.pipelines.models import Pipeline, PipelineRun
from corridor.pipelines.run_starts import start_queued_run
from corridor.runtime import Runtime
from corridor.store.db import Database

log = logging.getLogger("corridor.pipelines")

DRIVER_SILENCE_S = 120.0
# Pipelines looked at per tick, and runs started per pipeline and tick (a short transaction;
# a long queue of an unlimited pipeline drains over a few ticks).
QUEUE_BATCH = 500
START_BATCH = 100


def start_queued(runtime: Runtime, now: dt.datetime) -> list[str]:
    """Start queued runs, oldest first within each pipeline's limit; the started runs' ids."""
    with runtime.db.read() as session:
        # Pipelines with a queued run, the longest-waiting first: one pipeline's long queue
        # at its limit never hides another's. Only those with room take the write lock.
        waiting = list(
            session.scalars(
                select(PipelineRun.pipeline_id)
                .where(PipelineRun.state == "queued")
                .group_by(PipelineRun.pipeline_id)
                .order_by(func.min(PipelineRun.created_at))
                .limit(QUEUE_BATCH)
            )
        )
        limits = dict(
            session.execute(
                select(Pipeline.id, Pipeline.max_concurrent_runs).where(Pipeline.id.in_(waiting))
            ).all()
        )
        running = runs.running_counts(session, waiting)
    pipeline_ids = [
        pipeline_id
        for pipeline_id in waiting
        if (limit := limits.get(pipeline_id)) is None or running.get(pipeline_id, 0) < limit
    ]
    started: list[str] = []
    for pipeline_id in pipeline_ids:
        try:
            started.extend(_start_for_pipeline(runtime, pipeline_id, now))
        except Exception:
            log.exception("pipelines loop: runs of pipeline %s did not start", pipeline_id)
    if started:
        from corridor.compute.scheduler_loop import wake

        wake()
    return started


def _start_for_pipeline(runtime: Runtime, pipeline_id: str, now: dt.datetime) -> list[str]:
    with runtime.db.write() as session:
        pipeline = session.scalar(
            select(Pipeline).where(Pipeline.id == pipeline_id).with_for_update()
        )
        if pipeline is None:
            return []
        room = START_BATCH
        if pipeline.max_concurrent_runs is not None:
            running = runs.running_counts(session, [pipeline_id]).get(pipeline_id, 0)
            room = min(room, pipeline.max_concurrent_runs - running)
            if room <= 0:
                return []
        query = (
            select(PipelineRun)
            .where(PipelineRun.pipeline_id == pipeline_id, PipelineRun.state == "queued")
            .order_by(PipelineRun.created_at, PipelineRun.id)
            .limit(room)
        )
        started: list[str] = []
        for run in session.scalars(query).all():
            try:
                with session.begin_nested():
                    start_queued_run(session, runtime, run, now=now)
                started.append(run.id)
            except CorridorError as error:
                log.error("pipelines loop: run %s could not start: %s", run.id, error)
                runs.fail_run(session, run, f"the run could not start: {error}", now=now)
        return started


def fail_silent(
    runtime: Runtime, now: dt.datetime, server_started_at: dt.datetime | None
) -> list[str]:
    """Fail running runs whose driver is gone; their ids."""
    db = runtime.db
    silent_since = now - dt.timedelta(seconds=DRIVER_SILENCE_S)
    with db.read() as session:
        ended_jobs = session.execute(
            select(PipelineRun.id, Job.id, Job.state, Job.error)
            .join(Job, Job.id == PipelineRun.driver_job_id)
            .where(
                PipelineRun.state == "running",
                PipelineRun.driver == "job",
                Job.state.in_([str(state) for state in TERMINAL]),
            )
        ).all()
        silent: list[str] = []
        if server_started_at is None or server_started_at <= silent_since:
            last_seen = func.coalesce(
                PipelineRun.driver_seen_at, PipelineRun.started_at, PipelineRun.created_at
            )
            silent = list(
                session.scalars(
                    select(PipelineRun.id).where(
                        PipelineRun.state == "running",
                        PipelineRun.driver == "client",
                        last_seen < silent_since,
                    )
                )
            )
    failed = [
        run_id
        for run_id, job_id, state, error in ended_jobs
        if _fail(db, run_id, now, _driver_job_error(job_id, state, error))
    ]
    failed.extend(
        run_id for run_id in silent if _fail(db, run_id, now, None, silent_since=silent_since)
    )
    return failed


def _driver_job_error(job_id: str, state: str, error: str | None) -> str:
    if state == "failed":
        return f"its driver job {job_id} failed: {error or 'no error recorded'}"
    if state == "cancelled":
        return f"its driver job {job_id} was cancelled"
    return f"its driver job {job_id} ended without finishing the run"


def _fail(
    db: Database,
    run_id: str,
    now: dt.datetime,
    error: str | None,
    *,
    silent_since: dt.datetime | None = None,
) -> bool:
    """Fail one run if it is still in the state that condemned it (re-read under the lock)."""
    try:
        with db.write() as session:
            run = session.scalar(
                select(PipelineRun).where(PipelineRun.id == run_id).with_for_update()
            )
            if run is None or run.state != "running":
                return False
            if error is None:
                seen = run.driver_seen_at or run.started_at or run.created_at
                if silent_since is None or seen >= silent_since:
                    return False
                error = (
                    f"its driver stopped reporting at {seen:%Y-%m-%d %H:%M:%S} UTC "
                    f"(silent for over {DRIVER_SILENCE_S:.0f} s); "
                    f"`corridor pipelines retry {run.id}` resumes it"
                )
            log.warning("pipelines loop: run %s failed: %s", run.id, error)
            return runs.fail_run(session, run, error, now=now)
    except Exception:
        log.exception("pipelines loop: failing run %s did not work", run_id)
        return False
