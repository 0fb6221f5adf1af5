"""What a driver tells its watcher (a live view, a test) as a run goes: one event per change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
