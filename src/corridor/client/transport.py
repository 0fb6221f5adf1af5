"""An httpx transport that calls a Corridor app in this process, without a socket."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal


class InProcessTransport(httpx.BaseTransport):
    """Serve synchronous httpx requests from an ASGI app on a private event loop thread."""

    def __init__(self, app: Any) -> None:
        self._inner = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, httpx.Headers, bytes]:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._inner.handle_async_request(inner)
            content = await response.aread()
            return response.status_code, response.headers, content

        status, headers, content = self._portal.call(call)
        headers = httpx.Headers({k: v for k, v in headers.items() if k != "content-encoding"})
        return httpx.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        self._portal_cm.__exit__(None, None, None)
