"""Request and response types of the compute slice (shared by the services, the API, the worker's
routes and the SDK).

Bounds here are the ones JSON can check (lengths, ranges); what needs the sites, the units
parser or the database (memory "2G", a known site, a future deadline, a dataset's regions) is
checked by `corridor.compute.jobs.submit`, which names the problem in its message.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from corridor.client_input import Int64
from corridor.schemas import Request, Response

Objective = Literal["cost", "carbon", "time"]
FunctionSource = Literal["snapshot", "installed"]
ReportKey = Literal["project", "site", "day", "run"]

MAX_ARGV_ITEMS = 4096
MAX_ENV_ENTRIES = 256
MAX_DATASETS = 64
MAX_BATCH_JOBS = 10_000
DIGEST_PATTERN = r"^[0-9a-f]{64}$"
# The longest one job wait request asks the server to hold (it allows up to 60 s); a longer
# wait is several requests. Shared by the SDK and the pipelines driver.
LONG_POLL_S = 25.0


class FunctionRefIn(Request):
    """A Python function by reference: importable as ``module`` then ``qualname``."""

    module: str = Field(min_length=1, max_length=512)
    qualname: str = Field(min_length=1, max_length=512)
    source: FunctionSource = Field(
        "snapshot", description="snapshot: the module is in the job's code snapshot"
    )


class JobSubmit(Request):
    """One job: a command (argv) or a function, what it needs, and how to place and retry it."""

    command: list[str] | None = Field(
        None, min_length=1, max_length=MAX_ARGV_ITEMS, description="argv; or give function"
    )
    function: FunctionRefIn | None = None
    input_b64: str | None = Field(
        None, description="base64 of the function's encoded (args, kwargs); functions only"
    )
    snapshot: str | None = Field(
        None, pattern=DIGEST_PATTERN, description="sha256 of a snapshot uploaded to the project"
    )
    env: dict[str, str] = Field(default_factory=dict, max_length=MAX_ENV_ENTRIES)
    cpus: float = Field(1.0, allow_inf_nan=False)
    memory: int | str = Field(0, description="bytes, or a size such as 512M or 2G")
    gpus: float = Field(0.0, allow_inf_nan=False, description="whole, or a fraction below one")
    gpu_type: str | None = Field(None, min_length=1, max_length=64)
    workers: int = Field(1, ge=1, le=1024, description="gang size: all start at one site")
    priority: int = Field(0, ge=-100, le=100)
    site: str | None = Field(None, min_length=1, max_length=64, description="pin to a site")
    objective: Objective | None = Field(None, description="what placement minimises (time)")
    deadline: dt.datetime | None = Field(None, description="must be in the future")
    deferrable: bool = Field(False, description="may wait for low-carbon hours; needs deadline")
    retries: int = Field(0, ge=0, le=20)
    backoff_s: float = Field(1.0, ge=0, le=86_400, allow_inf_nan=False)
    timeout: float | str | None = Field(None, description="seconds, or a duration such as 10m")
    name: str | None = Field(None, min_length=1, max_length=128)
    run_id: str | None = Field(
        None, min_length=1, max_length=32, description="a tracking run of the same project"
    )
    datasets: list[str] = Field(
        default_factory=list,
        max_length=MAX_DATASETS,
        description="dataset refs the job reads, e.g. sales@3",
    )


class JobBatchIn(Request):
    """Many jobs submitted together: all are queued, or none is."""

    jobs: list[JobSubmit] = Field(min_length=1, max_length=MAX_BATCH_JOBS)


class FunctionRefOut(Response):
    module: str
    qualname: str
    source: FunctionSource


class ResourcesOut(Response):
    cpus: float
    memory_bytes: int
    gpus: float


class JobOut(Response):
    """A job as stored: its spec, where it is in its life, and what it cost."""

    id: str
    project: str
    name: str | None
    kind: Literal["command", "function"]
    state: str
    command: list[str] | None
    function: FunctionRefOut | None
    env_names: list[str] = Field(description="names only: values may be secrets")
    snapshot: str | None
    has_input: bool
    has_result: bool
    cpus: float
    memory_bytes: int
    gpus: float
    gpu_type: str | None
    workers: int
    priority: int
    site_pin: str | None
    objective: str
    datasets: list[str]
    regions: list[str] | None
    deadline: dt.datetime | None
    deferrable: bool
    not_before: dt.datetime | None
    retries: int
    backoff_s: float
    timeout_s: float | None
    cancel_requested: bool
    attempts: int
    site: str | None
    run_id: str | None
    created_by: str
    created_at: dt.datetime
    placed_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    exit_code: int | None
    error: str | None
    energy_j: float | None
    energy_method: str | None
    carbon_g: float | None
    cost: float | None


class AttemptOut(Response):
    """One try at a job: where and when it ran, how it ended, what it used."""

    number: int
    site: str
    state: str
    placed_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    exit_code: int | None
    error: str | None
    host: str | None
    pid: int | None
    gpu_indices: list[int]
    energy_j: float | None
    energy_method: str | None
    cpu_s: float | None
    carbon_g: float | None
    cost: float | None


class CandidateOut(Response):
    site: str
    feasible: bool
    score: float | None
    why: str
    cost: float | None = None
    carbon_g: float | None = None
    wait_s: float | None = None


class ExplainOut(Response):
    """Why the scheduler put a job where it did (or why it is still waiting)."""

    job_id: str
    objective: str
    decided_at: dt.datetime | None
    chosen: str | None
    start_at: dt.datetime | None
    reason: str
    candidates: list[CandidateOut]


class SiteOut(Response):
    name: str
    executor: str
    region: str
    capacity: ResourcesOut
    used: ResourcesOut
    gpu_types: list[str]
    price_per_kwh_now: float
    carbon_g_per_kwh_now: float
    pue: float
    cost_per_hour: float
    up: bool
    notes: list[str] = Field(
        default_factory=list,
        description="what to know about the figures now, e.g. an hourly file that has run out",
    )


class EnergyRow(Response):
    """Jobs' energy, carbon and cost summed under one key (a project, site, day or run)."""

    key: str
    jobs: int
    energy_j: float
    carbon_g: float
    cost: float
    methods: list[str]


class WorkOut(Response):
    """What a worker needs to run its attempt."""

    job_id: str
    attempt: int
    kind: Literal["command", "function"]
    argv: list[str] | None
    function: FunctionRefOut | None
    env: dict[str, str]
    snapshot: str | None
    has_input: bool
    timeout_s: float | None
    heartbeat_s: float
    lease_s: float
    datasets: list[str]
    run_id: str | None
    resources: ResourcesOut
    workers: int
    gpu_indices: list[int]


class HeartbeatOut(Response):
    cancel: bool = Field(description="stop the job: it was cancelled")
    lease_expires_at: dt.datetime


class AckOut(Response):
    """A worker's report was stored; ``job_state`` is the job's state after it."""

    job_state: str
    cancel: bool = Field(False, description="stop the job: it was cancelled")


class StartedIn(Request):
    host: str = Field(min_length=1, max_length=255)
    pid: int = Field(ge=0, le=2**31 - 1)


class FinishedIn(Request):
    """How an attempt ended, and what it used."""

    exit_code: int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    error: str | None = Field(None, max_length=100_000)
    energy_j: float | None = Field(None, ge=0, allow_inf_nan=False)
    energy_method: str | None = Field(None, max_length=64)
    cpu_s: float | None = Field(None, ge=0, allow_inf_nan=False)
    by_device: dict[str, float] = Field(default_factory=dict, max_length=256)
    # Which member of a gang reports (0 for a job of one worker).
    rank: int = Field(0, ge=0, le=1023)


class MetricPointIn(Request):
    key: str = Field(min_length=1, max_length=250)
    value: float
    step: Int64 = 0
    timestamp_ms: Int64


class RunMetricsIn(Request):
    """Metric points for the job's linked run, written together or not at all."""

    metrics: list[MetricPointIn] = Field(min_length=1, max_length=1000)


class SnapshotOut(Response):
    digest: str
    size_bytes: int
    modules: list[str]
    created_at: dt.datetime
