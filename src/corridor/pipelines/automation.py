"""Schedules and triggers of pipelines: create, list and delete them (the loop fires them,
`corridor.pipelines.loop.schedules` and `corridor.pipelines.loop.triggers`).

Everything a fire will need is checked when the schedule or trigger is made, so that a bad one
is refused to the person making it rather than failing later in the loop: the cron expression
and time zone, the parameters against the pipeline's spec, the dataset or model alias it
watches. A trigger starts from what it watches now (``last_seen``): existing versions never
start a run, only newer ones.
"""

from __future__ import annotations

from typing import Literal, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput, NotFound
from corridor.pipelines import runs
from corridor.pipelines.loop import schedules, triggers
from corridor.pipelines.models import Pipeline, PipelineSchedule, PipelineTrigger
from corridor.pipelines.sansio.run_params import check_params
from corridor.pipelines.schemas import ScheduleIn, ScheduleOut, TriggerIn, TriggerOut
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.store.base import utcnow


def _names(session: Session, pipeline_id: str) -> tuple[str, str]:
    row = session.execute(
        select(Pipeline.name, Project.name)
        .join(Project, Project.id == Pipeline.project_id)
        .where(Pipeline.id == pipeline_id)
    ).one()
    return row[0], row[1]


def create_schedule(
    session: Session, pipeline: Pipeline, body: ScheduleIn, principal: Principal
) -> PipelineSchedule:
    now = utcnow()
    next_fire = schedules.first_fire(body.cron, body.timezone, now=now)
    check_params(pipeline.params_spec or [], body.params)
    row = PipelineSchedule(
        pipeline_id=pipeline.id,
        project_id=pipeline.project_id,
        cron=body.cron,
        timezone=body.timezone,
        params=dict(body.params),
        missed=body.missed,
        enabled=body.enabled,
        next_fire_at=next_fire,
        created_by=principal.name,
        created_by_user_id=principal.user_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def schedule_out(session: Session, row: PipelineSchedule) -> ScheduleOut:
    pipeline, project = _names(session, row.pipeline_id)
    return ScheduleOut(
        id=row.id,
        pipeline=pipeline,
        project=project,
        cron=row.cron,
        timezone=row.timezone,
        params=row.params or {},
        missed=cast(Literal["skip", "once", "all"], row.missed),
        enabled=row.enabled,
        next_fire_at=row.next_fire_at,
        last_fire_at=row.last_fire_at,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def list_schedules(session: Session, pipeline: Pipeline) -> list[ScheduleOut]:
    rows = session.scalars(
        select(PipelineSchedule)
        .where(PipelineSchedule.pipeline_id == pipeline.id)
        .order_by(PipelineSchedule.created_at, PipelineSchedule.id)
    )
    return [schedule_out(session, r) for r in rows]


def schedule_project(session: Session, schedule_id: str) -> str:
    """The name of the project of schedule ``schedule_id`` (for the guard); 404 if none."""
    return runs.project_of(session, PipelineSchedule, schedule_id, "pipeline schedule")


def trigger_project(session: Session, trigger_id: str) -> str:
    """The name of the project of trigger ``trigger_id`` (for the guard); 404 if none."""
    return runs.project_of(session, PipelineTrigger, trigger_id, "pipeline trigger")


def delete_schedule(session: Session, schedule_id: str) -> None:
    row = session.get(PipelineSchedule, schedule_id) if runs.is_id(schedule_id) else None
    if row is None:
        raise NotFound(f"pipeline schedule {schedule_id!r} not found")
    session.delete(row)


def delete_trigger(session: Session, trigger_id: str) -> None:
    row = session.get(PipelineTrigger, trigger_id) if runs.is_id(trigger_id) else None
    if row is None:
        raise NotFound(f"pipeline trigger {trigger_id!r} not found")
    session.delete(row)


def _kind_of(body: TriggerIn) -> Literal["dataset", "alias"]:
    if body.dataset is not None and (body.model is None and body.alias is None):
        return "dataset"
    if body.dataset is None and body.model is not None and body.alias is not None:
        return "alias"
    raise InvalidInput("a trigger watches a dataset (dataset) or a model's alias (model and alias)")


def _check_watched(session: Session, project: Project, body: TriggerIn) -> None:
    if body.dataset is not None:
        from corridor.data import datasets

        if datasets.find_dataset(session, project, body.dataset) is None:
            raise InvalidInput(f"dataset {body.dataset!r} not found in project {project.name!r}")
    if body.model is not None:
        from corridor.registry import lookup

        try:
            lookup.model_row(session, body.model, project_id=project.id)
        except NotFound:
            raise InvalidInput(
                f"registered model {body.model!r} not found in project {project.name!r}"
            ) from None


def create_trigger(
    session: Session,
    project: Project,
    pipeline: Pipeline,
    body: TriggerIn,
    principal: Principal,
) -> PipelineTrigger:
    kind = _kind_of(body)
    _check_watched(session, project, body)
    spec = pipeline.params_spec or []
    if body.param is not None and body.param not in {p["name"] for p in spec}:
        raise InvalidInput(f"parameter {body.param!r} is not a parameter of this pipeline")
    sample = {**body.params, **({body.param: "name@1"} if body.param else {})}
    check_params(spec, sample)
    row = PipelineTrigger(
        pipeline_id=pipeline.id,
        project_id=pipeline.project_id,
        kind=kind,
        dataset=body.dataset,
        model=body.model,
        alias=body.alias,
        param=body.param,
        params=dict(body.params),
        enabled=body.enabled,
        created_by=principal.name,
        created_by_user_id=principal.user_id,
        created_at=utcnow(),
    )
    row.last_seen = triggers.current_version(session, row)
    session.add(row)
    session.flush()
    return row


def trigger_out(session: Session, row: PipelineTrigger) -> TriggerOut:
    pipeline, project = _names(session, row.pipeline_id)
    return TriggerOut(
        id=row.id,
        pipeline=pipeline,
        project=project,
        kind=cast(Literal["dataset", "alias"], row.kind),
        dataset=row.dataset,
        model=row.model,
        alias=row.alias,
        param=row.param,
        params=row.params or {},
        last_seen=row.last_seen,
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def list_triggers(session: Session, pipeline: Pipeline) -> list[TriggerOut]:
    rows = session.scalars(
        select(PipelineTrigger)
        .where(PipelineTrigger.pipeline_id == pipeline.id)
        .order_by(PipelineTrigger.created_at, PipelineTrigger.id)
    )
    return [trigger_out(session, r) for r in rows]
