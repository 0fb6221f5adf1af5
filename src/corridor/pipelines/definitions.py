"""Pipeline definitions: register (upsert by name within a project), read, list and change them.

A definition holds what a server-started run needs without the user's code: where the pipeline
lives (module, qualname, code snapshot) and its parameters' spec, which the server checks each
run's parameters against.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corridor.compute.models import Snapshot
from corridor.errors import InvalidInput, NotFound
from corridor.pipelines.models import Pipeline, PipelineRun
from corridor.pipelines.schemas import ParamSpec, PipelineIn, PipelineOut, PipelinePatch
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.store.base import utcnow


def find(session: Session, project: Project, name: str, *, lock: bool = False) -> Pipeline:
    """The project's pipeline ``name``, or `NotFound`; ``lock`` takes its row (run numbering)."""
    query = select(Pipeline).where(Pipeline.project_id == project.id, Pipeline.name == name)
    if lock:
        query = query.with_for_update()
    found = session.scalar(query)
    if found is None:
        raise NotFound(
            f"pipeline {name!r} not found in project {project.name!r}: register it first "
            "(corridor run registers the pipeline it runs)"
        )
    return found


def _check_snapshot(session: Session, project: Project, digest: str | None) -> None:
    if digest is not None and session.get(Snapshot, (project.id, digest)) is None:
        raise InvalidInput(
            f"snapshot {digest[:12]}… was not uploaded to project {project.name!r}: "
            "upload it first (PUT /api/v1/snapshot-uploads/{project}/{digest})"
        )


def register(
    session: Session, project: Project, body: PipelineIn, principal: Principal
) -> Pipeline:
    """Create the pipeline, or update the one of that name: its code, parameters and options."""
    names = [p.name for p in body.params]
    if len(set(names)) != len(names):
        raise InvalidInput("the pipeline's parameters have a repeated name")
    _check_snapshot(session, project, body.snapshot)
    now = utcnow()
    found = session.scalar(
        select(Pipeline)
        .where(Pipeline.project_id == project.id, Pipeline.name == body.name)
        .with_for_update()
    )
    values = {
        "module": body.module,
        "qualname": body.qualname,
        "snapshot": body.snapshot,
        "params_spec": [p.model_dump(mode="json") for p in body.params],
        "description": body.description,
        "on_failure": body.on_failure,
        "max_concurrent_runs": body.max_concurrent_runs,
        "updated_at": now,
    }
    if found is None:
        found = Pipeline(
            project_id=project.id,
            name=body.name,
            run_counter=0,
            created_by=principal.name,
            created_at=now,
            **values,
        )
        session.add(found)
    else:
        for key, value in values.items():
            setattr(found, key, value)
    session.flush()
    return found


def patch(session: Session, project: Project, name: str, body: PipelinePatch) -> Pipeline:
    found = find(session, project, name, lock=True)
    if body.unlimited_runs and body.max_concurrent_runs is not None:
        raise InvalidInput("give max_concurrent_runs or unlimited_runs, not both")
    if body.description is not None:
        found.description = body.description
    if body.on_failure is not None:
        found.on_failure = body.on_failure
    if body.max_concurrent_runs is not None:
        found.max_concurrent_runs = body.max_concurrent_runs
    if body.unlimited_runs:
        found.max_concurrent_runs = None
    found.updated_at = utcnow()
    session.flush()
    return found


def pipeline_out(
    pipeline: Pipeline,
    project: str,
    *,
    runs: int = 0,
    last_state: str | None = None,
    last_at: dt.datetime | None = None,
) -> PipelineOut:
    return PipelineOut(
        id=pipeline.id,
        name=pipeline.name,
        project=project,
        description=pipeline.description,
        module=pipeline.module,
        qualname=pipeline.qualname,
        snapshot=pipeline.snapshot,
        params=[ParamSpec.model_validate(p) for p in pipeline.params_spec or []],
        on_failure="continue" if pipeline.on_failure == "continue" else "fail_fast",
        max_concurrent_runs=pipeline.max_concurrent_runs,
        created_by=pipeline.created_by,
        created_at=pipeline.created_at,
        updated_at=pipeline.updated_at,
        runs=runs,
        last_run_state=last_state,
        last_run_at=last_at,
    )


def describe(session: Session, project: Project, pipelines: list[Pipeline]) -> list[PipelineOut]:
    """Each pipeline with its run count and its newest run's state and time."""
    ids = [p.id for p in pipelines]
    if not ids:
        return []
    counts = dict(
        session.execute(
            select(PipelineRun.pipeline_id, func.count())
            .where(PipelineRun.pipeline_id.in_(ids))
            .group_by(PipelineRun.pipeline_id)
        ).all()
    )
    newest = dict(
        session.execute(
            select(PipelineRun.pipeline_id, func.max(PipelineRun.number))
            .where(PipelineRun.pipeline_id.in_(ids))
            .group_by(PipelineRun.pipeline_id)
        ).all()
    )
    last: dict[str, tuple[str, dt.datetime]] = {}
    for pipeline_id, number in newest.items():
        row = session.execute(
            select(PipelineRun.state, PipelineRun.created_at).where(
                PipelineRun.pipeline_id == pipeline_id, PipelineRun.number == number
            )
        ).one()
        last[pipeline_id] = (row[0], row[1])
    return [
        pipeline_out(
            p,
            project.name,
            runs=counts.get(p.id, 0),
            last_state=last.get(p.id, (None, None))[0],
            last_at=last.get(p.id, (None, None))[1],
        )
        for p in pipelines
    ]


def list_pipelines(session: Session, project: Project) -> list[PipelineOut]:
    found = list(
        session.scalars(
            select(Pipeline).where(Pipeline.project_id == project.id).order_by(Pipeline.name)
        )
    )
    return describe(session, project, found)
