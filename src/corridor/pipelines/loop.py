"""The pipelines slice's background loop: schedules, triggers and the run queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from corridor.runtime import Runtime


@asynccontextmanager
async def running(runtime: Runtime) -> AsyncIterator[None]:
    """Run the loop while the server runs."""
    yield
