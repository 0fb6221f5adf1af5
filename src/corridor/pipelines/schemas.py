"""Request and response types of the pipelines slice (shared by the service, the routes, the
driver, the SDK and the CLI).

Bounds here are what JSON can check; what needs the database (a known pipeline, a run that is
still open, a job body the compute slice accepts) is checked by the service, which names the
problem in its message.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from corridor.compute.schemas import DIGEST_PATTERN, JobSubmit
from corridor.schemas import Request, Response

RunState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
StepState = Literal[
    "pending",
    "running",
    "succeeded",
    "cached",
    "failed",
    "upstream_failed",
    "skipped",
    "cancelled",
]
EndedStepState = Literal["succeeded", "failed", "upstream_failed", "skipped", "cancelled"]
Driver = Literal["client", "job"]
Trigger = Literal["cli", "sdk", "api", "schedule", "dataset", "alias", "retry"]
FailurePolicy = Literal["fail_fast", "continue"]
MissedPolicy = Literal["skip", "once", "all"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
# A step run's key: a step name, a later call's "name-2", a map item's "name[17]".
KEY_MAX = 200
MAX_BATCH_STEPS = 10_000
MAX_PARAMS_BYTES = 1_000_000


class ParamSpec(Request):
    """One parameter of a pipeline, read from its function's signature."""

    name: str = Field(min_length=1, max_length=128)
    type: str = Field(max_length=256, description="the annotation as written: int, list[str]...")
    required: bool
    default: Any = Field(None, description="JSON form of the default, when not required")


class PipelineIn(Request):
    """Register a pipeline (or update it: same name, same project)."""

    name: str = Field(pattern=NAME_PATTERN)
    module: str = Field(min_length=1, max_length=512)
    qualname: str = Field(min_length=1, max_length=512)
    snapshot: str | None = Field(None, pattern=DIGEST_PATTERN, description="its code snapshot")
    params: list[ParamSpec] = Field(default_factory=list, max_length=256)
    description: str = Field("", max_length=4096)
    on_failure: FailurePolicy = "fail_fast"
    max_concurrent_runs: int | None = Field(None, ge=1, le=10_000)


class PipelinePatch(Request):
    description: str | None = Field(None, max_length=4096)
    on_failure: FailurePolicy | None = None
    max_concurrent_runs: int | None = Field(None, ge=1, le=10_000)
    unlimited_runs: bool = Field(False, description="true: remove the concurrency limit")


class PipelineOut(Response):
    id: str
    name: str
    project: str
    description: str
    module: str
    qualname: str
    snapshot: str | None
    params: list[ParamSpec]
    on_failure: FailurePolicy
    max_concurrent_runs: int | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    runs: int = Field(0, description="how many runs it has had")
    last_run_state: RunState | None = None
    last_run_at: dt.datetime | None = None


class RunCreate(Request):
    """Start a run. ``driver="client"``: the caller drives it (``corridor run``, the SDK);
    ``driver="job"``: the server starts a driver job over the pipeline's stored snapshot."""

    params: dict[str, Any] = Field(default_factory=dict)
    driver: Driver = "job"
    trigger: Trigger = "api"
    no_cache: bool = False
    site: str | None = Field(None, min_length=1, max_length=64)
    on_failure: FailurePolicy | None = None
    snapshot: str | None = Field(
        None, pattern=DIGEST_PATTERN, description="the code of this run (default: the pipeline's)"
    )


class RunOut(Response):
    id: str
    pipeline: str
    project: str
    number: int
    state: RunState
    params: dict[str, Any]
    driver: Driver
    driver_job_id: str | None
    trigger: Trigger
    trigger_detail: dict[str, Any]
    no_cache: bool
    site: str | None
    on_failure: FailurePolicy
    snapshot: str | None
    module: str
    qualname: str
    result_kind: str | None
    error: str | None
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    # How many step runs are in each state (for listings).
    counts: dict[str, int] = Field(default_factory=dict)


class StepRunOut(Response):
    id: str
    key: str
    step: str
    parent_key: str | None
    item_index: int | None
    state: StepState
    in_process: bool
    cache_key: str | None
    cached_from: str | None
    job_id: str | None
    attempts: int
    inputs: dict[str, str]
    output_digest: str | None
    output_kind: str | None
    output_size: int | None
    error: str | None
    traceback: str | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_ms: float | None


class RunView(Response):
    """A run with its graph and every step run (map items included), in key order of the graph."""

    run: RunOut
    graph: dict[str, Any] | None
    steps: list[StepRunOut]


class GraphIn(Request):
    graph: dict[str, Any]


class StepBegin(Request):
    """One step run to start: found (any state) if its key exists; else cached when the cache
    holds its key; else created running, with its job queued in the same transaction."""

    key: str = Field(min_length=1, max_length=KEY_MAX)
    step: str = Field(min_length=1, max_length=128)
    parent_key: str | None = Field(None, max_length=KEY_MAX)
    item_index: int | None = Field(None, ge=0)
    in_process: bool = False
    cache: bool = True
    cache_key: str | None = Field(None, pattern=DIGEST_PATTERN)
    code_digest: str | None = Field(None, pattern=DIGEST_PATTERN)
    inputs: dict[str, str] = Field(default_factory=dict, description="argument path -> digest")
    input_refs: list[tuple[str, str]] = Field(
        default_factory=list, description='lineage: [["dataset_version", "sales@3"], ...]'
    )
    job: JobSubmit | None = None
    # Entries sharing a job_group share one job (a map chunk): give `job` on the first of them.
    job_group: str | None = Field(None, max_length=KEY_MAX)


class StepBeginBatch(Request):
    steps: list[StepBegin] = Field(min_length=1, max_length=MAX_BATCH_STEPS)


class StepFinish(Request):
    """How a step run ended. A key with no row yet may end directly (an in-process step recorded
    after it ran: give the StepBegin fields in ``begin``)."""

    key: str = Field(min_length=1, max_length=KEY_MAX)
    state: EndedStepState
    begin: StepBegin | None = None
    output_b64: str | None = Field(None, description="the output payload, base64")
    output_from_job: bool = Field(False, description="the output is the step's job's result")
    output_kind: str | None = Field(None, max_length=32)
    output_refs: list[tuple[str, str]] = Field(default_factory=list)
    error: str | None = Field(None, max_length=65_536)
    traceback: str | None = Field(None, max_length=262_144)
    logs_b64: str | None = None
    duration_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    attempts: int | None = Field(None, ge=0)


class StepFinishBatch(Request):
    steps: list[StepFinish] = Field(min_length=1, max_length=MAX_BATCH_STEPS)


class CacheIndexIn(Request):
    code_digests: list[str] = Field(min_length=1, max_length=10_000)


class CacheEntry(Response):
    step_run_id: str
    output_digest: str
    output_kind: str | None


class CacheIndexOut(Response):
    entries: dict[str, CacheEntry] = Field(description="cache key -> the newest hit")


class RunFinish(Request):
    state: Literal["succeeded", "failed", "cancelled"]
    result_b64: str | None = None
    result_kind: str | None = Field(None, max_length=32)
    error: str | None = Field(None, max_length=65_536)


class ScheduleIn(Request):
    cron: str = Field(min_length=1, max_length=256)
    timezone: str = Field("UTC", min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    missed: MissedPolicy = "skip"
    enabled: bool = True


class ScheduleOut(Response):
    id: str
    pipeline: str
    project: str
    cron: str
    timezone: str
    params: dict[str, Any]
    missed: MissedPolicy
    enabled: bool
    next_fire_at: dt.datetime | None
    last_fire_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime


class TriggerIn(Request):
    """Run the pipeline when a dataset gets a new version, or when a model's alias moves."""

    dataset: str | None = Field(None, min_length=1, max_length=128)
    model: str | None = Field(None, min_length=1, max_length=256)
    alias: str | None = Field(None, min_length=1, max_length=128)
    param: str | None = Field(
        None, max_length=128, description="the parameter that receives 'name@N'"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class TriggerOut(Response):
    id: str
    pipeline: str
    project: str
    kind: Literal["dataset", "alias"]
    dataset: str | None
    model: str | None
    alias: str | None
    param: str | None
    params: dict[str, Any]
    last_seen: int | None
    enabled: bool
    created_by: str
    created_at: dt.datetime
