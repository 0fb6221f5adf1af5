"""Pipeline runs: create them (numbered per pipeline, parameters checked), read and list them,
and record what their driver reports about the run as a whole (graph, heartbeats, the end).

Creation rule: a run the caller drives (``driver="client"``) starts ``running`` unless its
pipeline already runs ``max_concurrent_runs`` runs, in which case it is ``queued`` (the client
waits until the loop starts it); a run the server drives (``driver="job"``) is always created
``queued`` and started by the loop (`corridor.pipelines.run_starts`). Numbering and the limit
are decided under the pipeline row's lock, so two concurrent creations never share a number or
both take the last free place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.pipelines import run_tokens
from corridor.pipelines.models import Pipeline, PipelineRun
from corridor.pipelines.sansio.run_params import check_params
from corridor.security.models import Project
from corridor.store.base import utcnow

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


def is_id(text: str) -> bool:
    """Whether ``text`` can be a row id (32 hex digits), checked before any query."""
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def get(session: Session, run_id: str, *, lock: bool = False) -> PipelineRun:
    query = select(PipelineRun).where(PipelineRun.id == run_id)
    found = session.scalar(query.with_for_update() if lock else query) if is_id(run_id) else None
    if found is None:
        raise NotFound(f"pipeline run {run_id!r} not found")
    return found


def project_of_run(session: Session, run_id: str) -> str:
    """The name of the project pipeline run ``run_id`` belongs to (for the guard)."""
    return project_of(session, PipelineRun, run_id, "pipeline run")


def project_of(session: Session, table: type[Any], row_id: str, what: str) -> str:
    """The name of the project of row ``row_id`` of ``table`` (a run, a schedule, a trigger:
    anything with ``project_id``), for the guard of a route named by that id; 404 if none."""
    name = (
        session.scalar(
            select(Project.name)
            .join(table, table.project_id == Project.id)
            .where(table.id == row_id)
        )
        if is_id(row_id)
        else None
    )
    if name is None:
        raise NotFound(f"{what} {row_id!r} not found")
    return str(name)


def check_open(run: PipelineRun) -> None:
    """`Conflict` if the run has ended: its records are final until a retry reopens it."""
    if run.state in TERMINAL:
        raise Conflict(
            f"pipeline run {run.number} has ended ({run.state}); "
            "`corridor pipelines retry` resumes a failed or cancelled run"
        )


def running_counts(session: Session, pipeline_ids: Collection[str] | None = None) -> dict[str, int]:
    """How many runs of each pipeline are running (pipelines with none are absent)."""
    query = select(PipelineRun.pipeline_id, func.count()).where(PipelineRun.state == "running")
    if pipeline_ids is not None:
        query = query.where(PipelineRun.pipeline_id.in_(list(pipeline_ids)))
    return dict(session.execute(query.group_by(PipelineRun.pipeline_id)).all())


def queued_runs(session: Session, *, limit: int = 100) -> list[PipelineRun]:
    """Queued runs, oldest first (the loop starts them as their pipelines have room)."""
    return list(
        session.scalars(
            select(PipelineRun)
            .where(PipelineRun.state == "queued")
            .order_by(PipelineRun.created_at, PipelineRun.id)
            .limit(limit)
        )
    )


def has_room(session: Session, pipeline: Pipeline) -> bool:
    """Whether the pipeline may start one more run now."""
    limit = pipeline.max_concurrent_runs
    return limit is None or running_counts(session, [pipeline.id]).get(pipeline.id, 0) < limit


def create_run(
    session: Session,
    pipeline: Pipeline,
    *,
    params: Mapping[str, Any],
    trigger: str,
    created_by: str,
    created_by_user_id: str | None,
    trigger_detail: Mapping[str, Any] | None = None,
    driver: str = "job",
    no_cache: bool = False,
    site: str | None = None,
    on_failure: str | None = None,
    snapshot: str | None = None,
    schedule_id: str | None = None,
    schedule_fire: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> PipelineRun:
    """Create a run of ``pipeline`` (the caller commits); see the module's creation rule."""
    now = now or utcnow()
    checked = check_params(pipeline.params_spec or [], params)
    code = snapshot or pipeline.snapshot
    if driver == "job" and code is None:
        raise InvalidInput(
            f"pipeline {pipeline.name!r} has no code snapshot, so the server cannot run it: "
            "register it with its code first (corridor pipelines schedule FILE.py, or "
            "client.pipelines.register)"
        )
    # The pipeline row's lock: numbering and the concurrency limit, one creation at a time.
    locked = session.scalar(select(Pipeline).where(Pipeline.id == pipeline.id).with_for_update())
    assert locked is not None
    locked.run_counter = (locked.run_counter or 0) + 1
    starts_now = driver == "client" and has_room(session, locked)
    run = PipelineRun(
        pipeline_id=locked.id,
        project_id=locked.project_id,
        number=locked.run_counter,
        state="running" if starts_now else "queued",
        params=checked,
        snapshot=code,
        module=locked.module,
        qualname=locked.qualname,
        driver=driver,
        trigger=trigger,
        trigger_detail=dict(trigger_detail or {}),
        schedule_id=schedule_id,
        schedule_fire=schedule_fire,
        no_cache=no_cache,
        site=site,
        on_failure=on_failure or locked.on_failure,
        created_by=created_by,
        created_by_user_id=created_by_user_id,
        created_at=now,
        started_at=now if starts_now else None,
        driver_seen_at=now if starts_now else None,
    )
    session.add(run)
    session.flush()
    return run


def put_graph(session: Session, run: PipelineRun, graph: dict[str, Any]) -> None:
    """Store the built graph once; the same graph again is a no-op, another one a `Conflict`."""
    check_open(run)
    if run.state != "running":
        raise Conflict(f"pipeline run {run.number} is {run.state}: its driver has not started it")
    if run.graph is not None:
        if run.graph != graph:
            raise Conflict(
                f"pipeline run {run.number} has a different graph already: a run's graph is "
                "fixed once posted (retry runs the same code and parameters)"
            )
        return
    run.graph = graph
    run.driver_seen_at = utcnow()


def heartbeat(run: PipelineRun, *, now: dt.datetime | None = None) -> None:
    check_open(run)
    run.driver_seen_at = now or utcnow()


def end_run(
    session: Session,
    run: PipelineRun,
    state: str,
    *,
    error: str | None = None,
    result_digest: str | None = None,
    result_kind: str | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """End the run in ``state`` and revoke its token; False (no change) if it has ended already.

    Ending again in the same state is a no-op; in another state, a `Conflict`.
    """
    if run.state in TERMINAL:
        if run.state == state:
            return False
        raise Conflict(f"pipeline run {run.number} has ended already ({run.state})")
    now = now or utcnow()
    run.state = state
    run.error = error
    run.result_digest = result_digest
    run.result_kind = result_kind
    run.ended_at = now
    run_tokens.revoke(session, run, now=now)
    return True


def fail_run(
    session: Session, run: PipelineRun, error: str, *, now: dt.datetime | None = None
) -> bool:
    """End a run that has not ended as failed (the loop's watchdog); False if it had ended.

    Step runs and their jobs are left as they are: a retry reuses what finished meanwhile.
    """
    if run.state in TERMINAL:
        return False
    return end_run(session, run, "failed", error=error, now=now)
