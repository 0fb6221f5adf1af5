"""HTTP routes of tracking: experiments inside projects, and runs by id.

A run's routes name no project; the guard finds it from the run, so someone outside the
run's project gets 404, exactly as for the project itself. Reads need ``project:read``,
writes ``project:write``. Large answers (searches, metric histories) are serialised straight
from the service's values, skipping a second validation pass.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from fastapi import APIRouter, Query, Request
from fastapi import Response as HttpResponse
from sqlalchemy.orm import Session

from corridor.security.policy import Permission
from corridor.tracking import experiment_search, experiments, metrics, run_data, run_search, runs
from corridor.tracking.schemas import (
    ExperimentCreate,
    ExperimentOut,
    ExperimentPage,
    ExperimentRename,
    LogBatch,
    MetricHistory,
    RunCreate,
    RunOut,
    RunPage,
    RunUpdate,
    TagIn,
)
from corridor.tracking.validation import ViewType
from corridor.web.guard import Access, requires
from corridor.web.sessions import READ_SESSION, ReadSession, WriteRoute, WriteSession

router = APIRouter(prefix="/api/v1", tags=["tracking"], route_class=WriteRoute)
_EXPERIMENT = "/projects/{project}/experiments/{experiment_id}"


def run_project(request: Request, session: Session) -> str:
    """The project of the run named in the path (for the guard)."""
    return runs.project_of_run(session, str(request.path_params.get("run_id", "")))


def _read_run(permission: Permission = Permission.PROJECT_READ) -> Any:
    return requires(permission, project_from=run_project)


def _json(value: Any, status_code: int = 200) -> HttpResponse:
    body = pydantic_core.to_json(value, inf_nan_mode="strings")
    return HttpResponse(body, status_code=status_code, media_type="application/json")


# Experiments.


@router.post("/projects/{project}/experiments", response_model=ExperimentOut, status_code=201)
def create_experiment(
    project: str,
    body: ExperimentCreate,
    response: HttpResponse,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> ExperimentOut:
    """Create an experiment; with ``exist_ok``, return the active one of that name instead."""
    if body.exist_ok:
        record = experiments.get_or_create_experiment(session, access.project_or_fail, body.name)
        if record.tags != body.tags and body.tags:
            for key, value in body.tags.items():
                experiments.set_experiment_tag(session, record.experiment_id, key, value)
            record = experiments.get_experiment(session, record.experiment_id)
    else:
        record = experiments.create_experiment(
            session, access.project_or_fail, body.name, tags=body.tags
        )
    return ExperimentOut.of(record)


@router.get("/projects/{project}/experiments", response_model=ExperimentPage)
def search_experiments(
    project: str,
    request: Request,
    filter: str | None = Query(default=None, max_length=10_000),
    order_by: list[str] = Query(default_factory=list),
    max_results: int = Query(default=1000, ge=1, le=experiment_search.MAX_EXPERIMENT_RESULTS),
    page_token: str | None = Query(default=None, max_length=4096),
    view: ViewType = Query(default=ViewType.ACTIVE_ONLY),
    session: Session = READ_SESSION,
    access: Access = requires(Permission.PROJECT_READ),
) -> HttpResponse:
    """Experiments of the project matching an MLflow filter on ``name``, times and ``tags.*``."""
    page = experiment_search.search_experiments(
        session,
        project_ids=[access.project_or_fail.id],
        filter_string=filter,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
        view_type=view,
    )
    return _json({"experiments": page.items, "next_page_token": page.next_page_token})


@router.get(_EXPERIMENT, response_model=ExperimentOut)
def get_experiment(
    project: str,
    experiment_id: str,
    request: Request,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> ExperimentOut:
    record = experiments.get_experiment(session, experiment_id, project=access.project)
    return ExperimentOut.of(record)


@router.patch(_EXPERIMENT, response_model=ExperimentOut)
def rename_experiment(
    project: str,
    experiment_id: str,
    body: ExperimentRename,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> ExperimentOut:
    record = experiments.rename_experiment(
        session, experiment_id, body.name, project=access.project
    )
    return ExperimentOut.of(record)


@router.delete(_EXPERIMENT, status_code=204)
def delete_experiment(
    project: str,
    experiment_id: str,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> HttpResponse:
    """Soft-delete an experiment and its runs (restorable)."""
    experiments.delete_experiment(session, experiment_id, project=access.project)
    return HttpResponse(status_code=204)


@router.post(f"{_EXPERIMENT}/restore", response_model=ExperimentOut)
def restore_experiment(
    project: str,
    experiment_id: str,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> ExperimentOut:
    experiments.restore_experiment(session, experiment_id, project=access.project)
    record = experiments.get_experiment(session, experiment_id)
    return ExperimentOut.of(record)


@router.put(f"{_EXPERIMENT}/tags", response_model=ExperimentOut)
def set_experiment_tag(
    project: str,
    experiment_id: str,
    body: TagIn,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> ExperimentOut:
    experiments.set_experiment_tag(
        session, experiment_id, body.key, body.value, project=access.project
    )
    record = experiments.get_experiment(session, experiment_id)
    return ExperimentOut.of(record)


@router.delete(f"{_EXPERIMENT}/tags", status_code=204)
def delete_experiment_tag(
    project: str,
    experiment_id: str,
    session: WriteSession,
    key: str = Query(max_length=1000),
    access: Access = requires(Permission.PROJECT_WRITE),
) -> HttpResponse:
    experiments.delete_experiment_tag(session, experiment_id, key, project=access.project)
    return HttpResponse(status_code=204)


# Runs.


@router.post(f"{_EXPERIMENT}/runs", response_model=RunOut, status_code=201)
def create_run(
    project: str,
    experiment_id: str,
    body: RunCreate,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> RunOut:
    """Start a run (status RUNNING) in an experiment of the project."""
    record = runs.create_run(
        session,
        experiment_id,
        user=access.principal.name,
        run_name=body.run_name,
        start_time=body.start_time,
        tags=body.tags,
        project=access.project,
    )
    return RunOut.of(record)


@router.get("/projects/{project}/runs", response_model=RunPage)
def search_runs(
    project: str,
    request: Request,
    experiment_id: list[str] = Query(default_factory=list),
    filter: str | None = Query(default=None, max_length=10_000),
    order_by: list[str] = Query(default_factory=list),
    max_results: int = Query(default=1000, ge=1, le=run_search.MAX_SEARCH_RESULTS),
    page_token: str | None = Query(default=None, max_length=4096),
    view: ViewType = Query(default=ViewType.ACTIVE_ONLY),
    session: Session = READ_SESSION,
    access: Access = requires(Permission.PROJECT_READ),
) -> HttpResponse:
    """Runs of the project's experiments (all of them without ``experiment_id``) that match an
    MLflow filter, in ``order_by`` order."""
    page = run_search.search_runs(
        session,
        experiment_id,
        filter_string=filter,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
        view_type=view,
        project=access.project_or_fail,
    )
    return _json({"runs": page.items, "next_page_token": page.next_page_token})


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(
    run_id: str, request: Request, session: ReadSession, access: Access = _read_run()
) -> HttpResponse:
    record = runs.get_run(session, run_id)
    return _json(record)


@router.patch("/runs/{run_id}", response_model=RunOut)
def update_run(
    run_id: str,
    body: RunUpdate,
    session: WriteSession,
    access: Access = _read_run(Permission.PROJECT_WRITE),
) -> HttpResponse:
    """Change a run's status, end time or name (a terminal status stamps the end time)."""
    runs.update_run(
        session, run_id, status=body.status, end_time=body.end_time, run_name=body.run_name
    )
    record = runs.get_run(session, run_id)
    return _json(record)


@router.delete("/runs/{run_id}", status_code=204)
def delete_run(
    session: WriteSession,
    run_id: str,
    request: Request,
    access: Access = _read_run(Permission.PROJECT_WRITE),
) -> HttpResponse:
    """Soft-delete a run (restorable)."""
    runs.delete_run(session, run_id)
    return HttpResponse(status_code=204)


@router.post("/runs/{run_id}/restore", response_model=RunOut)
def restore_run(
    session: WriteSession,
    run_id: str,
    request: Request,
    access: Access = _read_run(Permission.PROJECT_WRITE),
) -> HttpResponse:
    runs.restore_run(session, run_id)
    record = runs.get_run(session, run_id)
    return _json(record)


@router.post("/runs/{run_id}/batch", status_code=204)
def log_batch(
    run_id: str,
    body: LogBatch,
    session: WriteSession,
    access: Access = _read_run(Permission.PROJECT_WRITE),
) -> HttpResponse:
    """Log metric points, params and tags in one transaction: all of them or none."""
    run_data.log_batch(
        session,
        run_id,
        metrics=[m.point() for m in body.metrics],
        params=[(p.key, p.value) for p in body.params],
        tags=[(t.key, t.value) for t in body.tags],
    )
    return HttpResponse(status_code=204)


@router.delete("/runs/{run_id}/tags", status_code=204)
def delete_run_tag(
    run_id: str,
    session: WriteSession,
    key: str = Query(max_length=1000),
    access: Access = _read_run(Permission.PROJECT_WRITE),
) -> HttpResponse:
    run_data.delete_tag(session, run_id, key)
    return HttpResponse(status_code=204)


@router.get("/runs/{run_id}/metrics/history", response_model=MetricHistory)
def get_metric_history(
    run_id: str,
    request: Request,
    key: str = Query(max_length=1000),
    max_results: int = Query(
        default=metrics.DEFAULT_HISTORY_RESULTS, ge=1, le=metrics.MAX_HISTORY_RESULTS
    ),
    page_token: str | None = Query(default=None, max_length=4096),
    session: Session = READ_SESSION,
    access: Access = _read_run(),
) -> HttpResponse:
    """Every point of one metric, by step then timestamp, a page at a time."""
    page = metrics.get_metric_history(
        session, run_id, key, max_results=max_results, page_token=page_token
    )
    return _json({"metrics": page.items, "next_page_token": page.next_page_token})
