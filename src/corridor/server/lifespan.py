"""The server's lifespan: each slice's background work starts with the server and stops with it.

Hooks start in table order and stop in reverse, so a slice may rely on those listed before it
for its whole life. A hook that fails to start stops the ones already started and fails the
server's start (`corridor server` then exits with an error rather than serve without, say, its
scheduler). On shutdown uvicorn first lets requests in flight finish (`shutdown_timeout_s`),
then leaves the lifespan, so a loop never stops under a request that still needs it. Every
hook is stopped even if another fails to stop; uvicorn logs that failure.

Only a server runs this: the in-process transport (`corridor.client.transport`) sends requests
without lifespan events, so an embedded client or a test app starts no background loop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from corridor.runtime import Runtime
from corridor.slices import LifespanHook

log = logging.getLogger("corridor.server")


def slice_lifespan(
    runtime: Runtime, hooks: Sequence[tuple[str, LifespanHook]]
) -> Callable[[object], AbstractAsyncContextManager[None]]:
    """A FastAPI lifespan that enters every hook over ``runtime``."""

    @asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for name, hook in hooks:
                await stack.enter_async_context(_logged(name, hook(runtime)))
            yield

    return lifespan


@asynccontextmanager
async def _logged(name: str, running: AbstractAsyncContextManager[None]) -> AsyncIterator[None]:
    async with running:
        log.info("slice started", extra={"slice": name})
        yield
    log.info("slice stopped", extra={"slice": name})
