"""A slice that exists only for tests: a router, an upload prefix, an error shape and a
lifespan hook whose background loop the tests watch start, tick and stop.

The server reaches it the way it reaches every slice, through a `Slice` line (`PROBE`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from corridor.runtime import Runtime
from corridor.slices import ErrorShape, LifespanHook, Slice

log = logging.getLogger("corridor.probe")

UPLOAD_PREFIX = "/api/v1/probe-uploads/"
ERROR_PREFIXES = ("/probe-api/",)

# What the hooks did, in order ("probe started", "probe cancelled", ...), and each loop's ticks.
EVENTS: list[str] = []
TICKS: dict[str, int] = {}

router = APIRouter()


@router.post("/api/v1/probe/echo")
async def echo(request: Request) -> dict[str, int]:
    return {"received": len(await request.body())}


@router.post(UPLOAD_PREFIX + "{name}")
async def upload(name: str, request: Request) -> dict[str, int]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
    return {"received": received}


async def crash() -> None:
    raise RuntimeError("a bug in a handler")


# A handler that fails as a bug would, under Corridor's shape and under the probe's own.
router.add_api_route("/api/v1/probe/crash", crash, methods=["GET"])
router.add_api_route(ERROR_PREFIXES[0] + "crash", crash, methods=["GET"])


@router.get("/api/v1/probe/state")
async def state() -> dict[str, Any]:
    return {"events": EVENTS, "ticks": TICKS}


def render(request: Request, status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"probe_error": code, "detail": message}, status_code=status)


def _recording(name: str) -> LifespanHook:
    """A hook whose loop counts ticks until it is cancelled, recording each step."""

    async def loop(running: asyncio.Event) -> None:
        try:
            while True:
                running.set()
                TICKS[name] = TICKS.get(name, 0) + 1
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            EVENTS.append(f"{name} cancelled")
            raise

    @asynccontextmanager
    async def hook(runtime: Runtime) -> AsyncIterator[None]:
        assert isinstance(runtime, Runtime)
        EVENTS.append(f"{name} started")
        running = asyncio.Event()
        task = asyncio.create_task(loop(running))
        await running.wait()
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            EVENTS.append(f"{name} stopped")
            log.info("probe loop stopped", extra={"slice": name})

    return hook


lifespan = _recording("probe")
second_lifespan = _recording("second")


def failing_lifespan(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    raise RuntimeError("the probe's background work cannot start")


PROBE = Slice(
    "probe",
    routers=("tests.server.probe_slice:router",),
    unlimited_body=("tests.server.probe_slice:UPLOAD_PREFIX",),
    error_shape=ErrorShape(
        prefixes="tests.server.probe_slice:ERROR_PREFIXES",
        render="tests.server.probe_slice:render",
    ),
    lifespan="tests.server.probe_slice:lifespan",
)
SECOND = Slice("second", lifespan="tests.server.probe_slice:second_lifespan")
FAILING = Slice("failing", lifespan="tests.server.probe_slice:failing_lifespan")
