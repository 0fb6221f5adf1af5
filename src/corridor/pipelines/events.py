"""What a driver tells its watcher (a live view, a test) as a run goes, one event per change,
and what a driven run ends with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from corridor.errors import CorridorError
from corridor.pipelines.schemas import RunOut


@dataclass(frozen=True)
class StepEvent:
    """A step run (or map item) moved to ``state``."""

    key: str
    step: str
    state: str
    parent_key: str | None = None
    item_index: int | None = None
    duration_s: float | None = None
    error: str | None = None
    traceback: str | None = None
    job_id: str | None = None

    @property
    def cached(self) -> bool:
        return self.state == "cached"


@dataclass(frozen=True)
class RunEvent:
    """The run itself changed (started, ended)."""

    run: RunOut


OnEvent = Callable[[Any], None]


class PipelineFailed(CorridorError):
    """A pipeline run ended without a value: a step failed, or the run was cancelled."""

    code = "pipeline_failed"

    def __init__(self, run: RunOut) -> None:
        self.run = run
        super().__init__(
            f"pipeline run {run.number} of {run.pipeline} {run.state}: {run.error or run.state}"
        )


@dataclass(frozen=True)
class RunResult:
    """How a driven run ended: the run as recorded, and the pipeline's value (None unless it
    succeeded)."""

    run: RunOut
    value: Any = None

    def value_or_raise(self) -> Any:
        if self.run.state != "succeeded":
            raise PipelineFailed(self.run)
        return self.value
