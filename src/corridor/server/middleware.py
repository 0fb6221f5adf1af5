"""The one ASGI middleware every request passes: request id, body limit, metrics, access log
and audit. Written as plain ASGI because it wraps every request, including streamed ones."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corridor.errors import CorridorError, PayloadTooLarge
from corridor.runtime import Runtime
from corridor.security import audit
from corridor.server.errors import error_response
from corridor.server.metrics import HttpMetrics
from corridor.web.request_audit import AUDITED, actor, request_entry, route_name

log = logging.getLogger("corridor.access")

# The status recorded (never sent) for a request whose client went away before its answer,
# as nginx logs it: the client's doing, so neither a server error nor a traceback.
CLIENT_CLOSED_REQUEST = 499
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An ``HTTPException`` because FastAPI turns any other error raised while it reads the body
    into a generic 400; this one it passes on to the error handlers, which answer 413.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {limit} bytes")


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        runtime: Runtime,
        metrics: HttpMetrics,
        unlimited_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.metrics = metrics
        self.max_body = runtime.settings.max_body_bytes
        # A prefix, or a path template with ``{}`` for one segment (a route that streams its
        # body under a path it shares with limited routes).
        self.unlimited_prefixes = tuple(p for p in unlimited_prefixes if "{}" not in p)
        self.unlimited_paths = tuple(
            re.compile("[^/]+".join(re.escape(part) for part in p.split("{}")))
            for p in unlimited_prefixes
            if "{}" in p
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False
        audited = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started, audited
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Audit before the reply completes, so that an acknowledged write has its event
                # and the log cannot fall behind the writes when appends are slower than them.
                audited = True
                await self._audit(scope, status)
            await send(message)

        limited = not scope["path"].startswith(self.unlimited_prefixes) and not any(
            pattern.fullmatch(scope["path"]) for pattern in self.unlimited_paths
        )
        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if limited and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge(self.max_body)
            return message

        try:
            declared = int(headers.get("content-length", "0") or 0)
        except ValueError:
            declared = 0
        try:
            if limited and declared > self.max_body:
                # Refused before reading a byte of it.
                await self._too_large(scope, receive, send_wrapper)
                return
            try:
                await self.app(scope, receive_wrapper, send_wrapper)
            except _BodyTooLarge:
                # Raised outside the app's error handlers (e.g. by a streaming route).
                if response_started:
                    raise
                await self._too_large(scope, receive, send_wrapper)
            except ClientDisconnect:
                status = CLIENT_CLOSED_REQUEST
                log.info("client disconnected", extra={"path": scope["path"]})
            except Exception as exc:
                # Answered here rather than by Starlette's outermost handler, which re-raises
                # into the server and so drops the client's keep-alive connection.
                if response_started:
                    raise
                log.error("unhandled error", exc_info=exc)
                await self._internal_error(scope, receive, send_wrapper)
        finally:
            if not audited:
                await self._audit(scope, status)
            self._observe(scope, status, started)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body exceeds the limit of {self.max_body} bytes"
        # In the shape of the surface asked (MLflow clients read only their own error body).
        response = error_response(Request(scope), 413, PayloadTooLarge.code, message)
        response.headers["connection"] = "close"
        await response(scope, receive, send)

    async def _internal_error(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = scope["state"]["request_id"]
        message = f"internal error; quote request id {rid} to your operator"
        response = error_response(Request(scope), 500, CorridorError.code, message)
        await response(scope, receive, send)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        """Count the request in the metrics and write its access log line."""
        duration_s = time.perf_counter() - started
        method = scope["method"]
        self.metrics.observe(method, route_name(scope), status, duration_s)
        log.info(
            "request",
            extra={
                "method": method,
                "path": scope["path"],
                "status": status,
                "duration_ms": round(duration_s * 1000, 2),
                "request_id": scope["state"]["request_id"],
                "actor": actor(scope["state"]),
            },
        )

    async def _audit(self, scope: Scope, status: int) -> None:
        """Append the audit event of a write or a refusal (reads that succeed are not audited),
        unless the route's own write transaction committed it with the route's changes."""
        if scope["state"].get(AUDITED):
            return
        entry = request_entry(scope, status)
        if entry is None:
            return
        try:
            await anyio.to_thread.run_sync(audit.append, self.runtime.db, entry)
        except Exception:
            log.exception("could not append an audit event", extra={"action": entry.action})
