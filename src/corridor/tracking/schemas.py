"""Request and response bodies of the tracking routes.

Metric values may be NaN, which JSON cannot carry as a number: responses write it as the
string ``"NaN"`` (as MLflow's REST API does), and requests accept either form.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from corridor.client_input import Int64
from corridor.schemas import Request, Response
from corridor.tracking.entities import ExperimentRecord, FileInfo, MetricPoint, RunRecord
from corridor.tracking.validation import RunStatus


class ExperimentCreate(Request):
    name: str = Field(max_length=500, description="Bare names get the project's prefix.")
    tags: dict[str, str] = Field(default_factory=dict)
    exist_ok: bool = Field(default=False, description="Return the experiment if it exists.")


class ExperimentRename(Request):
    name: str = Field(max_length=500)


class TagIn(Request):
    key: str = Field(max_length=1000)
    value: str = Field(max_length=100_000)


class ExperimentOut(Response):
    experiment_id: str
    name: str
    project: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str]

    @classmethod
    def of(cls, record: ExperimentRecord) -> ExperimentOut:
        return cls.model_validate(record)


class ExperimentPage(Response):
    experiments: list[ExperimentOut]
    next_page_token: str | None = None


class RunCreate(Request):
    run_name: str | None = Field(default=None, max_length=1000)
    start_time: Int64 | None = Field(default=None, description="Epoch milliseconds; default now.")
    tags: dict[str, str] = Field(default_factory=dict)


class RunUpdate(Request):
    status: RunStatus | None = None
    end_time: Int64 | None = Field(default=None, description="Epoch milliseconds.")
    run_name: str | None = Field(default=None, max_length=1000)


class MetricIn(Request):
    key: str = Field(max_length=1000)
    value: float
    timestamp: Int64 = Field(description="Epoch milliseconds.")
    step: Int64 = 0

    def point(self) -> MetricPoint:
        return MetricPoint(self.key, self.value, self.timestamp, self.step)


class LogBatch(Request):
    """Up to 1000 metric points, 100 params and 100 tags, written together or not at all."""

    metrics: list[MetricIn] = Field(default_factory=list, max_length=100_000)
    params: list[TagIn] = Field(default_factory=list, max_length=100_000)
    tags: list[TagIn] = Field(default_factory=list, max_length=100_000)


class MetricOut(Response):
    model_config = ConfigDict(from_attributes=True, ser_json_inf_nan="strings")

    key: str
    value: float
    timestamp: int
    step: int


class RunInfoOut(Response):
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str


class RunOut(Response):
    model_config = ConfigDict(from_attributes=True, ser_json_inf_nan="strings")

    info: RunInfoOut
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, MetricOut] = Field(description="The latest point of each metric.")

    @classmethod
    def of(cls, record: RunRecord) -> RunOut:
        return cls.model_validate(record)


class RunPage(Response):
    model_config = ConfigDict(from_attributes=True, ser_json_inf_nan="strings")

    runs: list[RunOut]
    next_page_token: str | None = None


class MetricHistory(Response):
    model_config = ConfigDict(from_attributes=True, ser_json_inf_nan="strings")

    metrics: list[MetricOut]
    next_page_token: str | None = None


class FileInfoOut(Response):
    path: str
    is_dir: bool
    file_size: int | None
    mtime: int | None = None
    digest: str | None = None

    @classmethod
    def of(cls, info: FileInfo) -> FileInfoOut:
        return cls.model_validate(info)


class ArtifactList(Response):
    files: list[FileInfoOut]
