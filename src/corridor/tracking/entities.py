"""What the tracking services return: plain, frozen values shaped like MLflow's entities.

Ids are strings (experiment ids are integer-like: ``"0"``, ``"1"``...), times are epoch
milliseconds, and a NaN metric value is ``float("nan")`` again (it is a flag in the store).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ExperimentRecord:
    experiment_id: str
    name: str
    project: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricPoint:
    """One point of a metric's time series (also what ``log_batch`` takes)."""

    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str


@dataclass(frozen=True)
class RunRecord:
    """A run with its data: every param and tag, and the latest point of each metric."""

    info: RunInfo
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricPoint] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedModelRecord:
    """An MLflow 3 logged model; ``status`` is PENDING, READY or FAILED."""

    model_id: str
    experiment_id: str
    name: str
    source_run_id: str | None
    status: str
    model_type: str | None
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_updated_time: int
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileInfo:
    """One entry of a run's artifact tree (MLflow's ``FileInfo``); ``file_size`` None for dirs."""

    path: str
    is_dir: bool
    file_size: int | None
    mtime: int | None = None
    digest: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; pass ``next_page_token`` back for the next (None: no more)."""

    items: list[T]
    next_page_token: str | None = None
