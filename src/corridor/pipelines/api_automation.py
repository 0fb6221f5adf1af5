"""Routes of pipeline schedules and triggers: create and list them under their pipeline,
delete them by id (the project is found from the schedule or trigger).

Creating needs ``project:write``, listing ``project:read``, deleting ``project:write``. The
loop (`corridor.pipelines.loop`) fires them; a schedule or trigger made by a user runs as that
user (its runs' driver tokens are theirs).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi import Response as HttpResponse
from sqlalchemy.orm import Session

from corridor.pipelines import automation, definitions
from corridor.pipelines.api import PIPELINE
from corridor.pipelines.schemas import ScheduleIn, ScheduleOut, TriggerIn, TriggerOut
from corridor.security.policy import Permission
from corridor.web.guard import Access, requires
from corridor.web.sessions import ReadSession, WriteRoute, WriteSession

router = APIRouter(prefix="/api/v1", tags=["pipelines"], route_class=WriteRoute)


def _schedule_project(request: Request, session: Session) -> str:
    return automation.schedule_project(session, str(request.path_params.get("schedule_id", "")))


def _trigger_project(request: Request, session: Session) -> str:
    return automation.trigger_project(session, str(request.path_params.get("trigger_id", "")))


@router.post(PIPELINE + "/schedules", response_model=ScheduleOut, status_code=201)
def create_schedule(
    project: str,
    name: str,
    body: ScheduleIn,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> ScheduleOut:
    """Run the pipeline on a cron schedule in a time zone (5 fields, or @daily and the like)."""
    pipeline = definitions.find(session, access.project_or_fail, name)
    row = automation.create_schedule(session, pipeline, body, access.principal)
    return automation.schedule_out(session, row)


@router.get(PIPELINE + "/schedules", response_model=list[ScheduleOut])
def list_schedules(
    project: str,
    name: str,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> list[ScheduleOut]:
    pipeline = definitions.find(session, access.project_or_fail, name)
    return automation.list_schedules(session, pipeline)


@router.delete("/pipeline-schedules/{schedule_id}", status_code=204)
def delete_schedule(
    schedule_id: str,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE, project_from=_schedule_project),
) -> HttpResponse:
    automation.delete_schedule(session, schedule_id)
    return HttpResponse(status_code=204)


@router.post(PIPELINE + "/triggers", response_model=TriggerOut, status_code=201)
def create_trigger(
    project: str,
    name: str,
    body: TriggerIn,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> TriggerOut:
    """Run the pipeline when a dataset of the project gets a new version, or when a model's
    alias moves; ``param`` receives the new ``name@N``."""
    pipeline = definitions.find(session, access.project_or_fail, name)
    row = automation.create_trigger(
        session, access.project_or_fail, pipeline, body, access.principal
    )
    return automation.trigger_out(session, row)


@router.get(PIPELINE + "/triggers", response_model=list[TriggerOut])
def list_triggers(
    project: str,
    name: str,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> list[TriggerOut]:
    pipeline = definitions.find(session, access.project_or_fail, name)
    return automation.list_triggers(session, pipeline)


@router.delete("/pipeline-triggers/{trigger_id}", status_code=204)
def delete_trigger(
    trigger_id: str,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE, project_from=_trigger_project),
) -> HttpResponse:
    automation.delete_trigger(session, trigger_id)
    return HttpResponse(status_code=204)
