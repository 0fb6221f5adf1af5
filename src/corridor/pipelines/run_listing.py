"""Pipeline runs as the API shows them: one run with its step counts, and pages of a
project's runs, newest first (keyset pages on ``(created_at, id)``, so a page never shifts as
new runs arrive)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.pipelines.models import Pipeline, PipelineRun, StepRun
from corridor.pipelines.schemas import RunOut
from corridor.search import page_tokens
from corridor.security.models import Project

RUN_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
MAX_LIST = 1000
PAGE_KIND = "pipeline-runs"


def step_counts(session: Session, run_ids: Collection[str]) -> dict[str, dict[str, int]]:
    """Per run, how many step runs are in each state."""
    found: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
    if run_ids:
        rows = session.execute(
            select(StepRun.run_id, StepRun.state, func.count())
            .where(StepRun.run_id.in_(list(run_ids)))
            .group_by(StepRun.run_id, StepRun.state)
        )
        for run_id, state, count in rows:
            found[run_id][state] = count
    return found


def run_out(
    session: Session,
    run: PipelineRun,
    *,
    names: tuple[str, str] | None = None,
    counts: dict[str, int] | None = None,
) -> RunOut:
    """The run as the API shows it; ``names`` (pipeline, project) saves a read."""
    if names is None:
        row = session.execute(
            select(Pipeline.name, Project.name)
            .join(Project, Project.id == Pipeline.project_id)
            .where(Pipeline.id == run.pipeline_id)
        ).one()
        names = (row[0], row[1])
    if counts is None:
        counts = step_counts(session, [run.id])[run.id]
    return RunOut.model_validate(
        {
            **{c: getattr(run, c) for c in _RUN_FIELDS},
            "pipeline": names[0],
            "project": names[1],
            "counts": counts,
        }
    )


_RUN_FIELDS = [
    "id",
    "number",
    "state",
    "params",
    "driver",
    "driver_job_id",
    "trigger",
    "trigger_detail",
    "no_cache",
    "site",
    "on_failure",
    "snapshot",
    "module",
    "qualname",
    "result_kind",
    "error",
    "created_by",
    "created_at",
    "started_at",
    "ended_at",
]


def list_runs(
    session: Session,
    project: Project,
    *,
    pipeline: Pipeline | None,
    state: str | None,
    limit: int,
    page_token: str | None,
) -> tuple[list[RunOut], str | None]:
    """A page of the project's runs, newest first, and the next page's token."""
    if state is not None and state not in RUN_STATES:
        raise InvalidInput(f"state {state!r} is not one of {', '.join(RUN_STATES)}")
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}")
    query_key = page_tokens.query_digest(project.id, pipeline.id if pipeline else None, state)
    query = select(PipelineRun).where(PipelineRun.project_id == project.id)
    if pipeline is not None:
        query = query.where(PipelineRun.pipeline_id == pipeline.id)
    if state is not None:
        query = query.where(PipelineRun.state == state)
    if page_token:
        position = page_tokens.decode(page_token, PAGE_KIND, query_key)
        try:
            after_at = dt.datetime.fromisoformat(str(position["created_at"]))
            after_id = str(position["id"])
        except (KeyError, ValueError):
            raise InvalidInput("page_token is not a token of this listing") from None
        query = query.where(
            or_(
                PipelineRun.created_at < after_at,
                and_(PipelineRun.created_at == after_at, PipelineRun.id < after_id),
            )
        )
    rows = list(
        session.scalars(
            query.order_by(PipelineRun.created_at.desc(), PipelineRun.id.desc()).limit(limit + 1)
        )
    )
    next_token = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_token = page_tokens.encode(
            PAGE_KIND,
            query_key,
            {"created_at": rows[-1].created_at.isoformat(), "id": rows[-1].id},
        )
    names = dict(
        session.execute(
            select(Pipeline.id, Pipeline.name).where(Pipeline.id.in_({r.pipeline_id for r in rows}))
        ).all()
    )
    counts = step_counts(session, [r.id for r in rows])
    out = [
        run_out(session, r, names=(names[r.pipeline_id], project.name), counts=counts[r.id])
        for r in rows
    ]
    return out, next_token
