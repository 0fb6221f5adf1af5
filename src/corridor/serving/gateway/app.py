"""The gateway: a raw ASGI app in front of the server that answers the inference routes itself.

It answers ``/v2`` and everything under it (Open Inference Protocol v2) and ``/v1/models``,
``/v1/models/{id}``, ``/v1/embeddings`` (OpenAI-style), and passes every other request, and
the lifespan events, to the server's app unchanged. On the lifespan's startup it loads the
runtime's token view and starts its poller (see `corridor.security.token_view`), and adds the
serving metrics to the registries the server's ``/metrics`` route renders.

Invariant: whatever a request holds, it is answered with a status and a message in the shape
of the surface it asked (OIP's ``{"error": ...}``, OpenAI's ``{"error": {...}}``); an error
nobody foresaw is a 500 that quotes a request id and is logged with its traceback, never sent.
A bad request costs its own parse and nothing else: it holds no lock and touches no replica.

Cost: the server's request middleware (request ids, access log, audit) is skipped on purpose:
inference is counted in the serving metrics and sampled by the deployment, not logged or
audited one request at a time. What remains per request is a path split, a few dict lookups,
the protocol's parse and encode, and two ASGI sends.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corridor.errors import CorridorError, PayloadTooLarge, Unauthenticated
from corridor.runtime import Runtime
from corridor.serving.gateway import oip_routes, openai_routes
from corridor.serving.gateway.access import Access, RetryLater
from corridor.serving.gateway.asgi_io import ClientGone, respond
from corridor.serving.gateway.reply import Reply, Served
from corridor.serving.plane import plane_for
from corridor.serving.protocol import openai
from corridor.serving.protocol.oip import TensorLimits
from corridor.serving.protocol.oip_response import error_body, error_status

log = logging.getLogger("corridor.serving.gateway")

Route = Callable[["Gateway", Scope, Receive, Served], Awaitable[Reply]]
ErrorShape = Callable[[CorridorError], Reply]
# The label of requests for a deployment that does not exist (bounded label values).
_UNKNOWN = "(unknown)"
_OPENAI_PATHS = ("/v1/models", "/v1/embeddings")


class Gateway:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.plane = plane_for(runtime)
        self.metrics = self.plane.metrics
        self.access = Access(runtime)
        settings = runtime.settings
        self.limits = TensorLimits(
            max_elements=settings.serving_max_tensor_elements,
            max_bytes=settings.serving_max_request_bytes,
            max_inputs=settings.serving_max_inputs,
        )
        self._start_lock = asyncio.Lock()
        self._metrics_shown = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith("/v2") and (len(path) == 3 or path[3] == "/"):
                await self._serve(scope, receive, send, oip_routes.route, _oip_error)
                return
            if path in _OPENAI_PATHS or path.startswith("/v1/models/"):
                await self._serve(scope, receive, send, openai_routes.route, _openai_error)
                return
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, route: Route, shape: ErrorShape
    ) -> None:
        started = time.perf_counter()
        if not self._metrics_shown:
            self._show_metrics(scope)
        served = Served()
        try:
            if not self.access.view.loaded:
                await self.start()
            reply = await route(self, scope, receive, served)
        except ClientGone:
            return
        except CorridorError as exc:
            reply = shape(exc)
        except Exception:
            request_id = uuid.uuid4().hex
            log.exception("inference request failed", extra={"request_id": request_id})
            reply = shape(
                CorridorError(f"internal error; quote request id {request_id} to your operator")
            )
            reply.headers = [*(reply.headers or ()), (b"x-request-id", request_id.encode())]
        await respond(send, reply.status, reply.body, reply.content_type, reply.headers)
        if served.deployment is not None:
            known = served.deployment in self.plane.deployments
            self.metrics.observe_request(
                served.deployment if known else _UNKNOWN,
                served.version if known else "",
                reply.status,
                time.perf_counter() - started,
            )
            if reply.status == 429:
                self.metrics.count_rate_limited(served.deployment)

    async def start(self) -> None:
        """Load the token view and start its poller (once; later calls return at once)."""
        async with self._start_lock:
            if not self.access.view.loaded:
                await self.access.view.start()

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                self._show_metrics(scope)
            elif message["type"] == "lifespan.shutdown":
                await self.access.view.stop()
            return message

        await self.app(scope, receive_wrapper, send)

    def _show_metrics(self, scope: Scope) -> None:
        """Add the serving registry to the server's ``/metrics`` (the app's `HttpMetrics`)."""
        state = getattr(scope.get("app"), "state", None)
        http_metrics = getattr(state, "metrics", None)
        include = getattr(http_metrics, "include", None)
        if include is not None:
            include(self.metrics.registry)
            self._metrics_shown = True


def _error_headers(error: CorridorError) -> list[tuple[bytes, bytes]] | None:
    if isinstance(error, RetryLater):
        return [(b"retry-after", error.retry_after_header)]
    if isinstance(error, Unauthenticated):
        return [(b"www-authenticate", b"Bearer")]
    if isinstance(error, PayloadTooLarge):
        # The body may be left unread: the connection cannot carry another request.
        return [(b"connection", b"close")]
    return None


def _oip_error(error: CorridorError) -> Reply:
    return Reply(error_status(error), error_body(error.message), headers=_error_headers(error))


def _openai_error(error: CorridorError) -> Reply:
    status, body = openai.encode_error(error)
    return Reply(status, body, headers=_error_headers(error))
