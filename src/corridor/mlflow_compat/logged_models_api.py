"""MLflow 3's logged models (``/mlflow/logged-models``) and run outputs, over `corridor.tracking`.

``mlflow.<flavour>.log_model`` creates a logged model (PENDING), records it as an output of the
active run, uploads its files to ``mlflow-artifacts:/<exp>/models/<id>/artifacts`` (see
`artifacts_api`), finalizes it READY and registers ``models:/<id>``. A logged model lives in its
experiment's project: reading needs the project's read permission, anything else the write
permission runs need. The model's id is in the path; the body holds the rest.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from corridor.errors import InvalidInput
from corridor.mlflow_compat import locate
from corridor.mlflow_compat.access import MlflowAccess, mlflow_requires
from corridor.mlflow_compat.messages import (
    LOGGED_MODEL_STATUS,
    KeyValue,
    LogOutputs,
    Message,
    Repeated,
    logged_model_out,
)
from corridor.mlflow_compat.routes import endpoint, page_reply, reply
from corridor.security.policy import Permission
from corridor.tracking import (
    experiments,
    logged_models,
    logged_models_outputs,
    logged_models_search,
)
from corridor.tracking.experiments import DEFAULT_EXPERIMENT_ID
from corridor.tracking.logged_models import LoggedModelStatus
from corridor.web.sessions import ReadSession, WriteRoute, WriteSession

router = APIRouter(tags=["mlflow"], route_class=WriteRoute)

READ = Permission.PROJECT_READ
WRITE = Permission.PROJECT_WRITE
_MODEL = "/mlflow/logged-models/{model_id}"
# The statuses of MLflow's wire format, by name and by number (protobuf's JSON takes both).
_STATUS_IN: dict[str | int, LoggedModelStatus] = {
    **{wire: LoggedModelStatus(name) for name, wire in LOGGED_MODEL_STATUS.items()},
    1: LoggedModelStatus.PENDING,
    2: LoggedModelStatus.READY,
    3: LoggedModelStatus.FAILED,
}


class CreateLoggedModel(Message):
    experiment_id: str
    name: str = ""
    model_type: str = ""
    source_run_id: str = ""
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class GetLoggedModel(Message):
    allow_deleted: bool = False


class FinalizeLoggedModel(Message):
    model_id: str = ""
    status: str | int


class SetLoggedModelTags(Message):
    tags: list[KeyValue] = Field(default_factory=list)


class LogLoggedModelParams(Message):
    model_id: str = ""
    params: list[KeyValue] = Field(default_factory=list)


class SearchOrder(Message):
    field_name: str
    # protobuf's default: a client that wants ascending order says so.
    ascending: bool = False
    dataset_name: str = ""
    dataset_digest: str = ""


class SearchDataset(Message):
    dataset_name: str = ""
    dataset_digest: str = ""


class SearchLoggedModels(Message):
    experiment_ids: Repeated = Field(default_factory=list)
    filter: str = ""
    datasets: list[SearchDataset] = Field(default_factory=list)
    max_results: int = 0
    order_by: list[SearchOrder] = Field(default_factory=list)
    page_token: str = ""


def _status(value: str | int) -> LoggedModelStatus:
    found = _STATUS_IN.get(value.upper() if isinstance(value, str) else value)
    if found is None and isinstance(value, str):
        return logged_models.parse_model_status(value)
    if found is None:
        raise InvalidInput(f"logged model status {value!r} is unknown; use READY or FAILED")
    return found


def _same_model(model_id: str, named: str) -> None:
    if named and named != model_id:
        raise InvalidInput(f"model_id {named!r} in the body is not {model_id!r} of the path")


@endpoint(router, "POST", "/mlflow/logged-models")
def create_logged_model(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, CreateLoggedModel, locate.by_experiment),
) -> JSONResponse:
    """Create a PENDING logged model; its source run must be in the same project."""
    message = access.message_as(CreateLoggedModel)
    if experiments.parse_experiment_id(message.experiment_id) == DEFAULT_EXPERIMENT_ID:
        experiments.ensure_default_experiment(session)
    created = logged_models.create_logged_model(
        session,
        message.experiment_id,
        name=message.name or None,
        source_run_id=message.source_run_id or None,
        model_type=message.model_type or None,
        params=[(p.key, p.value) for p in message.params],
        tags=[(t.key, t.value) for t in message.tags],
    )
    return reply({"model": logged_model_out(created)})


@endpoint(router, "GET", _MODEL)
def get_logged_model(
    model_id: str,
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, GetLoggedModel, locate.by_logged_model),
) -> JSONResponse:
    message = access.message_as(GetLoggedModel)
    found = logged_models.get_logged_model(session, model_id, allow_deleted=message.allow_deleted)
    return reply({"model": logged_model_out(found)})


@endpoint(router, "PATCH", _MODEL)
def finalize_logged_model(
    model_id: str,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, FinalizeLoggedModel, locate.by_logged_model),
) -> JSONResponse:
    """Set the model's status: READY once its files are uploaded, FAILED if that failed."""
    message = access.message_as(FinalizeLoggedModel)
    _same_model(model_id, message.model_id)
    status = _status(message.status)
    found = logged_models.finalize_logged_model(session, model_id, status)
    return reply({"model": logged_model_out(found)})


@endpoint(router, "DELETE", _MODEL)
def delete_logged_model(
    model_id: str,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, Message, locate.by_logged_model),
) -> JSONResponse:
    logged_models.delete_logged_model(session, model_id)
    return reply()


@endpoint(router, "PATCH", _MODEL + "/tags")
def set_logged_model_tags(
    model_id: str,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, SetLoggedModelTags, locate.by_logged_model),
) -> JSONResponse:
    message = access.message_as(SetLoggedModelTags)
    logged_models.set_logged_model_tags(session, model_id, [(t.key, t.value) for t in message.tags])
    return reply()


@endpoint(router, "DELETE", _MODEL + "/tags/{tag_key:path}")
def delete_logged_model_tag(
    model_id: str,
    tag_key: str,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, Message, locate.by_logged_model),
) -> JSONResponse:
    """The client puts the key in the path as it is, so a key may hold '/'."""
    logged_models.delete_logged_model_tag(session, model_id, tag_key)
    return reply()


@endpoint(router, "POST", _MODEL + "/params")
def log_logged_model_params(
    model_id: str,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, LogLoggedModelParams, locate.by_logged_model),
) -> JSONResponse:
    """Log up to 100 params; like a run's, a param cannot change once logged."""
    message = access.message_as(LogLoggedModelParams)
    _same_model(model_id, message.model_id)
    logged_models.log_logged_model_params(
        session, model_id, [(p.key, p.value) for p in message.params]
    )
    return reply()


@endpoint(router, "POST", "/mlflow/logged-models/search")
def search_logged_models(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, SearchLoggedModels, locate.by_experiments),
) -> JSONResponse:
    """Active logged models of experiments the caller may read, filtered and ordered."""
    message = access.message_as(SearchLoggedModels)
    if message.datasets or any(o.dataset_name or o.dataset_digest for o in message.order_by):
        raise InvalidInput(
            "dataset filters and orders need metrics of logged models, which Corridor does "
            "not keep; search without datasets"
        )
    page = logged_models_search.search_logged_models(
        session,
        message.experiment_ids,
        filter_string=message.filter or None,
        order_by=[(o.field_name, o.ascending) for o in message.order_by],
        max_results=message.max_results or logged_models_search.DEFAULT_SEARCH_RESULTS,
        page_token=message.page_token or None,
    )
    return page_reply("models", [logged_model_out(m) for m in page.items], page.next_page_token)


@endpoint(router, "POST", "/mlflow/runs/outputs")
def log_outputs(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, LogOutputs, locate.by_run),
) -> JSONResponse:
    """Record the logged models a run produced (each must live in the run's project)."""
    message = access.message_as(LogOutputs)
    logged_models_outputs.log_outputs(
        session, message.run, [(m.model_id, m.step) for m in message.models]
    )
    return reply()
