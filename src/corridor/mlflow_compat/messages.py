"""The MLflow tracking messages Corridor serves, with MLflow's field names. No I/O.

Requests are pydantic models of MLflow's proto messages (``service.proto``). Unlike Corridor's
own API they ignore unknown fields, as MLflow's server does: clients newer than this module send
fields it does not know (``workspace``...), and refusing them would break those clients.

Responses are typed dicts built by the functions below, in the JSON MLflow's server writes:
``int64`` fields as JSON numbers (MLflow converts them so), ids and versions as strings, absent
optional fields left out, and non-finite doubles as protobuf's ``"NaN"``, ``"Infinity"``.
They are dicts rather than models because a metric history can hold a million points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, NotRequired, TypedDict

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue
from typing_extensions import TypedDict as ValidatedDict

from corridor.client_input import Int64
from corridor.errors import InvalidInput
from corridor.tracking.entities import (
    ExperimentRecord,
    FileInfo,
    LoggedModelRecord,
    MetricPoint,
    RunInfo,
    RunRecord,
)
from corridor.tracking.validation import ViewType

if TYPE_CHECKING:
    from corridor.tracking.run_search import RunRows


def _as_list(value: object) -> object:
    # A repeated field given once in a query string arrives as a scalar.
    return [value] if isinstance(value, str | int) else value


Repeated = Annotated[list[str], BeforeValidator(_as_list)]


class Message(BaseModel):
    """An MLflow request message: the JSON body of a POST, the query of a GET."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class RunMessage(Message):
    """A request about one run; MLflow clients send the id as ``run_id``, ``run_uuid`` or both."""

    run_id: str = ""
    run_uuid: str = ""

    @property
    def run(self) -> str:
        found = self.run_id or self.run_uuid
        if not found:
            raise InvalidInput("Missing value for required parameter 'run_id'")
        return found


class KeyValue(Message):
    key: str
    value: str = ""


class MetricIn(Message):
    key: str
    value: float
    timestamp: Int64
    step: Int64 = 0


# --- experiments ---------------------------------------------------------------------------


class CreateExperiment(Message):
    name: str
    artifact_location: str = ""
    tags: list[KeyValue] = Field(default_factory=list)


class SearchExperiments(Message):
    max_results: int = 1000
    page_token: str = ""
    filter: str = ""
    order_by: Repeated = Field(default_factory=list)
    view_type: ViewType = ViewType.ACTIVE_ONLY


class ExperimentMessage(Message):
    experiment_id: str


class GetExperimentByName(Message):
    experiment_name: str


class UpdateExperiment(ExperimentMessage):
    new_name: str


class SetExperimentTag(ExperimentMessage):
    key: str
    value: str = ""


class DeleteExperimentTag(ExperimentMessage):
    key: str


# --- runs ----------------------------------------------------------------------------------


class CreateRun(Message):
    experiment_id: str = "0"
    user_id: str = ""
    run_name: str = ""
    start_time: Int64 | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class UpdateRun(RunMessage):
    status: str | None = None
    end_time: Int64 | None = None
    run_name: str = ""


class LogMetric(RunMessage):
    key: str
    value: float
    timestamp: Int64
    step: Int64 = 0


class LogParam(RunMessage):
    key: str
    value: str = ""


class SetTag(RunMessage):
    key: str
    value: str = ""


class DeleteTag(RunMessage):
    key: str


class LogBatch(RunMessage):
    metrics: list[MetricIn] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class MetricRowIn(ValidatedDict):
    """One metric of `LogBatchRows`: validated as `MetricIn` is, but left a plain dict."""

    key: str
    value: float
    timestamp: Int64
    step: NotRequired[int]


class LogBatchRows(RunMessage):
    """`LogBatch` with its metrics as dicts: a batch holds 1,000, and models cost twice as much."""

    metrics: list[MetricRowIn] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class ModelOutput(Message):
    model_id: str
    step: Int64 = 0


class LogOutputs(RunMessage):
    models: list[ModelOutput] = Field(default_factory=list)


class SearchRuns(Message):
    experiment_ids: Repeated = Field(default_factory=list)
    filter: str = ""
    run_view_type: ViewType = ViewType.ACTIVE_ONLY
    max_results: int = 1000
    order_by: Repeated = Field(default_factory=list)
    page_token: str = ""


class ListArtifacts(RunMessage):
    path: str = ""
    page_token: str = ""


class GetMetricHistory(RunMessage):
    metric_key: str
    page_token: str = ""
    max_results: int | None = None


# --- responses -----------------------------------------------------------------------------


class KeyValueOut(TypedDict):
    key: str
    value: str


class ExperimentOut(TypedDict):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    last_update_time: int
    creation_time: int
    tags: list[KeyValueOut]
    workspace: str


class MetricOut(TypedDict):
    key: str
    value: float | str
    timestamp: int
    step: int


class RunInfoOut(TypedDict):
    run_id: str
    run_uuid: str
    run_name: str
    experiment_id: str
    user_id: str
    status: str
    start_time: int
    end_time: NotRequired[int]
    artifact_uri: str
    lifecycle_stage: str


class RunDataOut(TypedDict):
    metrics: list[MetricOut]
    params: list[KeyValueOut]
    tags: list[KeyValueOut]


class ModelOutputOut(TypedDict):
    model_id: str
    step: int


class RunOutputsOut(TypedDict, total=False):
    model_outputs: list[ModelOutputOut]


class RunOut(TypedDict):
    info: RunInfoOut
    data: RunDataOut
    inputs: dict[str, JsonValue]
    outputs: RunOutputsOut


class FileInfoOut(TypedDict):
    path: str
    is_dir: bool
    file_size: NotRequired[int]


def double(value: float) -> float | str:
    """A double as protobuf's JSON writes it: non-finite values are strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def key_values(items: Mapping[str, str]) -> list[KeyValueOut]:
    return [{"key": k, "value": v} for k, v in items.items()]


def local_name(name: str, workspace: str | None) -> str:
    """A server-wide name as a client in ``workspace`` knows it: without the project prefix.

    MLflow clients compose ``models:/<name>@<alias>`` from names and cannot parse a ``/`` in
    them, so inside a workspace names are shown as MLflow shows them, bare.
    """
    if workspace and name.startswith(f"{workspace}/"):
        return name[len(workspace) + 1 :]
    return name


def experiment_out(exp: ExperimentRecord, workspace: str | None = None) -> ExperimentOut:
    return {
        "experiment_id": exp.experiment_id,
        "name": local_name(exp.name, workspace),
        "artifact_location": exp.artifact_location,
        "lifecycle_stage": exp.lifecycle_stage,
        "last_update_time": exp.last_update_time,
        "creation_time": exp.creation_time,
        "tags": key_values(exp.tags),
        "workspace": exp.project,
    }


def metric_out(point: MetricPoint) -> MetricOut:
    return {
        "key": point.key,
        "value": double(point.value),
        "timestamp": point.timestamp,
        "step": point.step,
    }


def run_info_out(info: RunInfo) -> RunInfoOut:
    out: RunInfoOut = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": info.lifecycle_stage,
    }
    if info.end_time is not None:
        out["end_time"] = info.end_time
    return out


def run_out(run: RunRecord, model_outputs: Sequence[tuple[str, int]] = ()) -> RunOut:
    outputs: RunOutputsOut = {}
    if model_outputs:
        outputs["model_outputs"] = [{"model_id": m, "step": s} for m, s in model_outputs]
    return {
        "info": run_info_out(run.info),
        "data": {
            "metrics": [metric_out(p) for p in run.metrics.values()],
            "params": key_values(run.params),
            "tags": key_values(run.tags),
        },
        "inputs": {},
        "outputs": outputs,
    }


def run_rows_out(run: RunRows) -> RunOut:
    """`run_out` for a run as `run_search` read it, built straight from its rows."""
    run_id, experiment_id, name, user_id, status, start, end, stage, artifact_uri = run.info
    info: RunInfoOut = {
        "run_id": run_id,
        "run_uuid": run_id,
        "run_name": name,
        "experiment_id": str(experiment_id),
        "user_id": user_id,
        "status": status,
        "start_time": start,
        "artifact_uri": artifact_uri,
        "lifecycle_stage": stage,
    }
    if end is not None:
        info["end_time"] = end
    outputs: RunOutputsOut = {}
    if run.outputs:
        outputs["model_outputs"] = [{"model_id": m, "step": s} for m, s in run.outputs]
    return {
        "info": info,
        "data": {
            "metrics": [
                {"key": k, "value": "NaN" if nan else double(v), "timestamp": ts, "step": step}
                for k, v, nan, ts, step in run.metrics
            ],
            "params": [{"key": k, "value": v} for k, v in run.params],
            "tags": [{"key": k, "value": v} for k, v in run.tags],
        },
        "inputs": {},
        "outputs": outputs,
    }


def file_info_out(info: FileInfo) -> FileInfoOut:
    out: FileInfoOut = {"path": info.path, "is_dir": info.is_dir}
    if not info.is_dir and info.file_size is not None:
        out["file_size"] = info.file_size
    return out


# --- logged models -------------------------------------------------------------------------

# MLflow's ``LoggedModelStatus`` names, by the status tracking stores.
LOGGED_MODEL_STATUS = {
    "PENDING": "LOGGED_MODEL_PENDING",
    "READY": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
}


class LoggedModelInfoOut(TypedDict):
    model_id: str
    experiment_id: str
    name: str
    creation_timestamp_ms: int
    last_updated_timestamp_ms: int
    artifact_uri: str
    status: str
    model_type: NotRequired[str]
    source_run_id: NotRequired[str]
    tags: list[KeyValueOut]


class LoggedModelDataOut(TypedDict):
    params: list[KeyValueOut]
    metrics: list[MetricOut]


class LoggedModelOut(TypedDict):
    info: LoggedModelInfoOut
    data: LoggedModelDataOut


def logged_model_out(model: LoggedModelRecord) -> LoggedModelOut:
    info: LoggedModelInfoOut = {
        "model_id": model.model_id,
        "experiment_id": model.experiment_id,
        "name": model.name,
        "creation_timestamp_ms": model.creation_time,
        "last_updated_timestamp_ms": model.last_updated_time,
        "artifact_uri": model.artifact_location,
        "status": LOGGED_MODEL_STATUS[model.status],
        "tags": key_values(model.tags),
    }
    if model.model_type:
        info["model_type"] = model.model_type
    if model.source_run_id:
        info["source_run_id"] = model.source_run_id
    return {"info": info, "data": {"params": key_values(model.params), "metrics": []}}
