"""MLflow's tracking endpoints (experiments, runs, metrics, params, tags), over `corridor.tracking`.

Each handler translates one MLflow message into one call of the tracking services and the result
back into MLflow's JSON. The guard has already found the project and checked the caller's role.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.mlflow_compat import locate
from corridor.mlflow_compat.access import MlflowAccess, mlflow_requires
from corridor.mlflow_compat.messages import (
    CreateExperiment,
    CreateRun,
    DeleteExperimentTag,
    DeleteTag,
    ExperimentMessage,
    GetExperimentByName,
    GetMetricHistory,
    ListArtifacts,
    LogBatchRows,
    LogMetric,
    LogParam,
    Message,
    MetricOut,
    RunMessage,
    SearchExperiments,
    SearchRuns,
    SetExperimentTag,
    SetTag,
    UpdateExperiment,
    UpdateRun,
    experiment_out,
    file_info_out,
    run_info_out,
    run_out,
)
from corridor.mlflow_compat.routes import endpoint, json_reply, page_reply, reply
from corridor.mlflow_compat.run_search_reply import search_runs_out
from corridor.security import projects
from corridor.security.policy import Permission
from corridor.tracking import artifacts, experiments, metrics, run_data, runs
from corridor.tracking.experiment_search import search_experiments as search_experiment_records
from corridor.tracking.experiments import DEFAULT_EXPERIMENT_ID
from corridor.tracking.logged_models_outputs import model_outputs
from corridor.web.sessions import ReadSession, WriteRoute, WriteSession

router = APIRouter(tags=["mlflow"], route_class=WriteRoute)

READ = Permission.PROJECT_READ
WRITE = Permission.PROJECT_WRITE


# --- experiments ---------------------------------------------------------------------------


@endpoint(router, "POST", "/mlflow/experiments/create")
def create_experiment(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, CreateExperiment, locate.by_new_experiment_name),
) -> JSONResponse:
    message = access.message_as(CreateExperiment)
    if message.artifact_location:
        raise InvalidInput(
            "artifact_location must be empty: Corridor stores every experiment's artifacts "
            "itself and clients reach them through mlflow-artifacts:/"
        )
    tags = [(t.key, t.value) for t in message.tags]
    if access.workspace:
        created = experiments.create_experiment(
            session, access.project_or_fail, message.name, tags=tags
        )
    else:
        created = experiments.create_experiment_by_name(session, message.name, tags=tags)
    return reply({"experiment_id": created.experiment_id})


def _search_experiments(session: Session, access: MlflowAccess) -> JSONResponse:
    message = access.message_as(SearchExperiments)
    project_ids: list[str] | None
    if access.workspace:
        project_ids = [access.project_or_fail.id]
    elif access.principal.is_admin:
        project_ids = None
    else:
        project_ids = [p.id for p in projects.list_projects(session, access.principal)]
    page = search_experiment_records(
        session,
        project_ids=project_ids,
        filter_string=message.filter or None,
        order_by=message.order_by,
        max_results=message.max_results,
        page_token=message.page_token or None,
        view_type=message.view_type,
    )
    return page_reply(
        "experiments",
        [experiment_out(e, access.workspace) for e in page.items],
        page.next_page_token,
    )


@endpoint(router, "POST", "/mlflow/experiments/search")
def search_experiments(
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, SearchExperiments, locate.by_workspace),
) -> JSONResponse:
    """Experiments of the workspace's project, or of every project the caller may read."""
    return _search_experiments(session, access)


@endpoint(router, "GET", "/mlflow/experiments/search")
def search_experiments_get(
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, SearchExperiments, locate.by_workspace),
) -> JSONResponse:
    return _search_experiments(session, access)


@endpoint(router, "GET", "/mlflow/experiments/get")
def get_experiment(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, ExperimentMessage, locate.by_experiment),
) -> JSONResponse:
    message = access.message_as(ExperimentMessage)
    found = experiments.get_experiment(session, message.experiment_id)
    return reply({"experiment": experiment_out(found, access.workspace)})


@endpoint(router, "GET", "/mlflow/experiments/get-by-name")
def get_experiment_by_name(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, GetExperimentByName, locate.by_experiment_name),
) -> JSONResponse:
    message = access.message_as(GetExperimentByName)
    name = locate.qualified_experiment_name(request, message.experiment_name)
    found = experiments.get_experiment_by_name(session, name)
    return reply({"experiment": experiment_out(found, access.workspace)})


@endpoint(router, "POST", "/mlflow/experiments/delete")
def delete_experiment(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, ExperimentMessage, locate.by_experiment),
) -> JSONResponse:
    message = access.message_as(ExperimentMessage)
    experiments.delete_experiment(session, message.experiment_id)
    return reply()


@endpoint(router, "POST", "/mlflow/experiments/restore")
def restore_experiment(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, ExperimentMessage, locate.by_experiment),
) -> JSONResponse:
    message = access.message_as(ExperimentMessage)
    experiments.restore_experiment(session, message.experiment_id)
    return reply()


@endpoint(router, "POST", "/mlflow/experiments/update")
def update_experiment(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, UpdateExperiment, locate.by_experiment),
) -> JSONResponse:
    message = access.message_as(UpdateExperiment)
    experiments.rename_experiment(session, message.experiment_id, message.new_name)
    return reply()


@endpoint(router, "POST", "/mlflow/experiments/set-experiment-tag")
def set_experiment_tag(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, SetExperimentTag, locate.by_experiment),
) -> JSONResponse:
    message = access.message_as(SetExperimentTag)
    experiments.set_experiment_tag(session, message.experiment_id, message.key, message.value)
    return reply()


@endpoint(router, "POST", "/mlflow/experiments/delete-experiment-tag")
def delete_experiment_tag(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, DeleteExperimentTag, locate.by_experiment),
) -> JSONResponse:
    message = access.message_as(DeleteExperimentTag)
    experiments.delete_experiment_tag(session, message.experiment_id, message.key)
    return reply()


# --- runs ----------------------------------------------------------------------------------


@endpoint(router, "POST", "/mlflow/runs/create")
def create_run(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, CreateRun, locate.by_experiment),
) -> JSONResponse:
    """Start a run; its user is the caller, whatever ``user_id`` the client claims."""
    message = access.message_as(CreateRun)
    if experiments.parse_experiment_id(message.experiment_id) == DEFAULT_EXPERIMENT_ID:
        experiments.ensure_default_experiment(session)
    created = runs.create_run(
        session,
        message.experiment_id,
        user=access.principal.name,
        run_name=message.run_name or None,
        start_time=message.start_time,
        tags=[(t.key, t.value) for t in message.tags],
    )
    return reply({"run": run_out(created)})


@endpoint(router, "POST", "/mlflow/runs/update")
def update_run(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, UpdateRun, locate.by_run),
) -> JSONResponse:
    message = access.message_as(UpdateRun)
    info = runs.update_run(
        session,
        message.run,
        status=message.status,
        end_time=message.end_time,
        run_name=message.run_name or None,
    )
    return reply({"run_info": run_info_out(info)})


@endpoint(router, "POST", "/mlflow/runs/delete")
def delete_run(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, RunMessage, locate.by_run),
) -> JSONResponse:
    runs.delete_run(session, access.message_as(RunMessage).run)
    return reply()


@endpoint(router, "POST", "/mlflow/runs/restore")
def restore_run(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, RunMessage, locate.by_run),
) -> JSONResponse:
    runs.restore_run(session, access.message_as(RunMessage).run)
    return reply()


@endpoint(router, "GET", "/mlflow/runs/get")
def get_run(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, RunMessage, locate.by_run),
) -> JSONResponse:
    found = runs.get_run(session, access.message_as(RunMessage).run)
    outputs = model_outputs(session, [found.info.run_id])[found.info.run_id]
    return reply({"run": run_out(found, outputs)})


@endpoint(router, "POST", "/mlflow/runs/log-metric")
def log_metric(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, LogMetric, locate.by_run),
) -> JSONResponse:
    message = access.message_as(LogMetric)
    point = (message.key, message.value, message.timestamp, message.step)
    run_data.log_batch_rows(session, message.run, metrics=[point])
    return reply()


@endpoint(router, "POST", "/mlflow/runs/log-parameter")
def log_param(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, LogParam, locate.by_run),
) -> JSONResponse:
    message = access.message_as(LogParam)
    run_data.log_param(session, message.run, message.key, message.value)
    return reply()


@endpoint(router, "POST", "/mlflow/runs/set-tag")
def set_tag(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, SetTag, locate.by_run),
) -> JSONResponse:
    message = access.message_as(SetTag)
    run_data.set_tag(session, message.run, message.key, message.value)
    return reply()


@endpoint(router, "POST", "/mlflow/runs/delete-tag")
def delete_tag(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, DeleteTag, locate.by_run),
) -> JSONResponse:
    message = access.message_as(DeleteTag)
    run_data.delete_tag(session, message.run, message.key)
    return reply()


@endpoint(router, "POST", "/mlflow/runs/log-batch")
def log_batch(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, LogBatchRows, locate.by_run),
) -> JSONResponse:
    """Log up to 1,000 metrics, 100 params and 100 tags at once; a refused batch writes none."""
    message = access.message_as(LogBatchRows)
    points = [(m["key"], m["value"], m["timestamp"], m.get("step", 0)) for m in message.metrics]
    run_data.log_batch_rows(
        session,
        message.run,
        metrics=points,
        params=[(p.key, p.value) for p in message.params],
        tags=[(t.key, t.value) for t in message.tags],
    )
    return reply()


@endpoint(router, "POST", "/mlflow/runs/search")
def search_runs(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, SearchRuns, locate.by_experiments),
) -> Response:
    found = search_runs_out(session, access.message_as(SearchRuns))
    return json_reply(found.body())


@endpoint(router, "GET", "/mlflow/metrics/get-history")
def get_metric_history(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, GetMetricHistory, locate.by_run),
) -> JSONResponse:
    message = access.message_as(GetMetricHistory)
    key = message.metric_key
    page = metrics.metric_history_rows(
        session,
        message.run,
        key,
        max_results=message.max_results,
        page_token=message.page_token or None,
    )
    # A page holds up to 25,000 points by default: each becomes MLflow's JSON dict at once,
    # without a value object in between. Stored values are finite, or NaN by their flag.
    points: list[MetricOut] = [
        {"key": key, "value": "NaN" if is_nan else value, "timestamp": timestamp, "step": step}
        for step, timestamp, value, is_nan in page.items
    ]
    return page_reply("metrics", points, page.next_page_token)


@endpoint(router, "GET", "/mlflow/artifacts/list")
def list_artifacts(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, ListArtifacts, locate.by_run),
) -> JSONResponse:
    """MLflow 1's listing of a run's artifacts (paths relative to the run's root)."""
    message = access.message_as(ListArtifacts)
    info = runs.get_run_info(session, message.run)
    files = artifacts.list_artifacts(session, message.run, message.path.strip("/"))
    return reply({"root_uri": info.artifact_uri, "files": [file_info_out(f) for f in files]})


# --- the server ----------------------------------------------------------------------------


@router.get("/api/3.0/mlflow/server-info", include_in_schema=False)
def server_info(
    access: MlflowAccess = mlflow_requires(Permission.AUTHENTICATED, Message, locate.nowhere),
) -> JSONResponse:
    """What MLflow 3 clients probe: workspaces are Corridor's projects; no multipart uploads."""
    return reply(
        {
            "store_type": "SqlStore",
            "workspaces_enabled": True,
            "trace_archival_enabled": False,
            "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
        }
    )
