"""The serving controller (a stub until it lands)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from corridor.runtime import Runtime


@asynccontextmanager
async def serving(runtime: Runtime) -> AsyncIterator[None]:
    yield
