"""What tracking accepts: keys, values, statuses and names, checked before anything is written.

The rules and limits are MLflow's (``mlflow/utils/validation.py``), so that anything an MLflow
client may log, Corridor stores, and anything MLflow refuses, Corridor refuses too. No I/O.
"""

from __future__ import annotations

import math
import posixpath
import re
import time
import unicodedata
from enum import StrEnum

from corridor.errors import InvalidInput

# MLflow's limits (mlflow/utils/validation.py); the table columns are sized from them.
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 5000
MAX_RUN_NAME_LENGTH = 250
MAX_ARTIFACT_PATH_BYTES = 1024
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
# What MLflow's SQL store stores for +-inf: the largest finite double.
MAX_FLOAT = 1.7976931348623157e308
_INT64 = (-(2**63), 2**63 - 1)
_KEY = re.compile(r"[/\w.\- :]*")
_RUN_ID = re.compile(r"[0-9a-f]{32}")


class RunStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class LifecycleStage(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(StrEnum):
    """Which runs or experiments a listing includes (MLflow's ``ViewType``)."""

    ACTIVE_ONLY = "ACTIVE_ONLY"
    DELETED_ONLY = "DELETED_ONLY"
    ALL = "ALL"

    def stages(self) -> tuple[str, ...]:
        if self is ViewType.ACTIVE_ONLY:
            return (LifecycleStage.ACTIVE,)
        if self is ViewType.DELETED_ONLY:
            return (LifecycleStage.DELETED,)
        return (LifecycleStage.ACTIVE, LifecycleStage.DELETED)


def parse_view_type(value: ViewType | str) -> ViewType:
    try:
        return ViewType(str(value).upper())
    except ValueError:
        allowed = ", ".join(v.value for v in ViewType)
        raise InvalidInput(f"view type {value!r} is unknown; use one of {allowed}") from None


def now_ms() -> int:
    """The current time in epoch milliseconds, the unit of every tracking timestamp."""
    return time.time_ns() // 1_000_000


def check_status_change(current: RunStatus, new: RunStatus) -> None:
    """Refuse a status change the run's state machine does not allow.

    A run may go from any state to RUNNING (MLflow resumes finished runs that way) or to a
    terminal state; only a run that has not started may be SCHEDULED.
    """
    if new is RunStatus.SCHEDULED and current is not RunStatus.SCHEDULED:
        raise InvalidInput(f"a {current.value} run cannot go back to SCHEDULED")


def parse_status(value: str) -> RunStatus:
    try:
        return RunStatus(value.upper())
    except ValueError:
        allowed = ", ".join(s.value for s in RunStatus)
        raise InvalidInput(f"run status {value!r} is unknown; use one of {allowed}") from None


def check_key(kind: str, key: str) -> str:
    """Return ``key`` if it is a valid param, metric or tag key; raise `InvalidInput` if not."""
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{kind} key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"{kind} key {key[:50]!r}... is {len(key)} characters; at most {MAX_KEY_LENGTH}"
        )
    if not _KEY.fullmatch(key):
        raise InvalidInput(
            f"{kind} key {key!r} is invalid: use letters, digits, '_', '-', '.', ' ', ':' and '/'"
        )
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith("..") or norm.startswith("/"):
        raise InvalidInput(
            f"{kind} key {key!r} is invalid: keys may be used as file paths and this one would "
            f"resolve to {norm!r}"
        )
    return key


def _check_length(what: str, value: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string")
    if len(value) > limit:
        raise InvalidInput(f"{what} is {len(value)} characters; at most {limit}")
    return value


def check_param(key: str, value: str) -> tuple[str, str]:
    check_key("param", key)
    return key, _check_length(f"value of param {key!r}", value, MAX_PARAM_VALUE_LENGTH)


def check_tag(key: str, value: str) -> tuple[str, str]:
    check_key("tag", key)
    return key, _check_length(f"value of tag {key!r}", value, MAX_TAG_VALUE_LENGTH)


def check_experiment_tag(key: str, value: str) -> tuple[str, str]:
    check_key("experiment tag", key)
    return key, _check_length(
        f"value of experiment tag {key!r}", value, MAX_EXPERIMENT_TAG_VALUE_LENGTH
    )


def check_experiment_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("experiment name must not be empty")
    _check_length("experiment name", name, MAX_EXPERIMENT_NAME_LENGTH)
    bad = next((c for c in name if unicodedata.category(c).startswith("C")), None)
    if bad is not None:
        raise InvalidInput(f"experiment name contains the control character {bad!r}")
    return name


def check_run_name(name: str) -> str:
    _check_length("run name", name, MAX_RUN_NAME_LENGTH)
    bad = next((c for c in name if unicodedata.category(c).startswith("C")), None)
    if bad is not None:
        raise InvalidInput(f"run name contains the control character {bad!r}")
    return name


def is_run_id(value: str) -> bool:
    """Whether ``value`` has the shape of a run id (32 lowercase hex digits)."""
    return isinstance(value, str) and _RUN_ID.fullmatch(value) is not None


def check_int64(what: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an integer, not {value!r}")
    if not _INT64[0] <= value <= _INT64[1]:
        raise InvalidInput(f"{what} {value} does not fit in 64 bits")
    return value


def check_timestamp(what: str, value: int) -> int:
    check_int64(what, value)
    if value < 0:
        raise InvalidInput(f"{what} must be milliseconds since the epoch, not {value}")
    return value


def metric_value(key: str, value: float) -> tuple[float, bool]:
    """Return the stored form of a metric value: ``(value, is_nan)``.

    SQLite stores NaN as NULL, so NaN is a flag with value 0; infinities are clamped to the
    largest finite double, as MLflow's SQL store does.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"value of metric {key!r} must be a number, not {value!r}")
    number = float(value)
    if math.isnan(number):
        return 0.0, True
    if math.isinf(number):
        return (MAX_FLOAT if number > 0 else -MAX_FLOAT), False
    return number, False
