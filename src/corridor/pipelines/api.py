"""The pipelines slice's routes for definitions and runs: register, list, read and change
pipelines; start runs; list and read them.

Reads need ``project:read``; every change ``project:write``. Run routes (``/pipeline-runs/{id}``)
find their project from the run, so a run of a project the caller cannot read is not found.
Each change is one transaction with its audit event (`corridor.web.sessions`); a refused
request writes nothing. The driver's routes (graph, steps, finish...) are in
`corridor.pipelines.api_runs`, schedules and triggers in `corridor.pipelines.api_automation`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi import Response as HttpResponse
from sqlalchemy.orm import Session

from corridor.pipelines import definitions, run_listing, runs, step_runs
from corridor.pipelines.models import PipelineRun
from corridor.pipelines.schemas import (
    PipelineIn,
    PipelineOut,
    PipelinePatch,
    RunCreate,
    RunOut,
    RunState,
    RunView,
)
from corridor.runtime import Runtime
from corridor.security.policy import Permission
from corridor.web.guard import Access, get_runtime, requires
from corridor.web.sessions import READ_SESSION, ReadSession, WriteRoute, WriteSession

router = APIRouter(prefix="/api/v1", tags=["pipelines"], route_class=WriteRoute)

PIPELINES = "/projects/{project}/pipelines"
PIPELINE = PIPELINES + "/{name}"
RUN = "/pipeline-runs/{run_id}"
NEXT_PAGE_HEADER = "x-corridor-next-page-token"
MAX_WAIT_S = 60.0
POLL_S = 0.2


def run_project(request: Request, session: Session) -> str:
    """The project of the pipeline run named in the path (for the guard); 404 if none."""
    return runs.project_of_run(session, str(request.path_params.get("run_id", "")))


def run_access(permission: Permission = Permission.PROJECT_READ) -> Any:
    return requires(permission, project_from=run_project)


@router.post(PIPELINES, response_model=PipelineOut, status_code=201)
def register_pipeline(
    project: str,
    body: PipelineIn,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> PipelineOut:
    """Register a pipeline, or update the one of that name: its code, parameters, options."""
    found = definitions.register(session, access.project_or_fail, body, access.principal)
    return definitions.describe(session, access.project_or_fail, [found])[0]


@router.get(PIPELINES, response_model=list[PipelineOut])
def list_pipelines(
    project: str, session: ReadSession, access: Access = requires(Permission.PROJECT_READ)
) -> list[PipelineOut]:
    """The project's pipelines by name, each with its run count and last run."""
    return definitions.list_pipelines(session, access.project_or_fail)


@router.get(PIPELINE, response_model=PipelineOut)
def show_pipeline(
    project: str,
    name: str,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> PipelineOut:
    found = definitions.find(session, access.project_or_fail, name)
    return definitions.describe(session, access.project_or_fail, [found])[0]


@router.patch(PIPELINE, response_model=PipelineOut)
def patch_pipeline(
    project: str,
    name: str,
    body: PipelinePatch,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> PipelineOut:
    """Change the description, the failure policy or the concurrency limit."""
    found = definitions.patch(session, access.project_or_fail, name, body)
    return definitions.describe(session, access.project_or_fail, [found])[0]


@router.post(PIPELINE + "/runs", response_model=RunOut, status_code=201)
def create_run(
    project: str,
    name: str,
    body: RunCreate,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> RunOut:
    """Start a run. ``driver="client"``: the caller drives it, and it is ``running`` at once
    unless the pipeline's concurrency limit is reached (``queued``: wait until it runs).
    ``driver="job"``: it is ``queued`` and the server starts its driver job."""
    pipeline = definitions.find(session, access.project_or_fail, name)
    run = runs.create_run(
        session,
        pipeline,
        params=body.params,
        trigger=body.trigger,
        created_by=access.principal.name,
        created_by_user_id=access.principal.user_id,
        driver=body.driver,
        no_cache=body.no_cache,
        site=body.site,
        on_failure=body.on_failure,
        snapshot=body.snapshot,
    )
    return run_listing.run_out(session, run, names=(pipeline.name, access.project_or_fail.name))


@router.get("/projects/{project}/pipeline-runs", response_model=list[RunOut])
def list_runs(
    project: str,
    response: HttpResponse,
    pipeline: str | None = Query(None, max_length=128, description="only this pipeline's runs"),
    state: RunState | None = Query(None, description="only runs in this state"),
    limit: int = Query(100, ge=1, le=run_listing.MAX_LIST),
    page_token: str | None = Query(None, max_length=2000),
    session: Session = READ_SESSION,
    access: Access = requires(Permission.PROJECT_READ),
) -> list[RunOut]:
    """The project's runs, newest first; the next page's token is in
    ``x-corridor-next-page-token``."""
    project_row = access.project_or_fail
    found = definitions.find(session, project_row, pipeline) if pipeline is not None else None
    out, next_token = run_listing.list_runs(
        session, project_row, pipeline=found, state=state, limit=limit, page_token=page_token
    )
    if next_token is not None:
        response.headers[NEXT_PAGE_HEADER] = next_token
    return out


def _view(runtime: Runtime, run_id: str) -> tuple[RunView, str]:
    with runtime.db.read() as session:
        run = runs.get(session, run_id)
        return view_of(session, run), run.state


def view_of(session: Session, run: PipelineRun) -> RunView:
    return RunView(
        run=run_listing.run_out(session, run),
        graph=run.graph,
        steps=[step_runs.step_run_out(r) for r in step_runs.run_steps(session, run)],
    )


@router.get(RUN, response_model=RunView)
async def show_run(
    run_id: str,
    request: Request,
    wait_s: float = Query(0.0, ge=0, le=MAX_WAIT_S, allow_inf_nan=False),
    while_state: RunState | None = Query(
        None, description="with wait_s: answer once the run has left this state"
    ),
    access: Access = run_access(),
) -> RunView:
    """The run, its graph and every step run (map items included) in the graph's order.
    With ``wait_s`` and ``while_state``, wait (up to ``wait_s``) while the run is in that
    state: a client whose run was queued waits here until it runs."""
    runtime = get_runtime(request)
    deadline = time.monotonic() + wait_s
    while True:
        view, state = await anyio.to_thread.run_sync(_view, runtime, run_id)
        if while_state is None or state != while_state or time.monotonic() >= deadline:
            return view
        await asyncio.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
