"""One error body for the API, mapped from the ``CorridorError`` tree in this one place."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException

from corridor.errors import CorridorError, InvalidInput, PayloadTooLarge, Unavailable
from corridor.slices import Slice, load_callable, load_prefixes

log = logging.getLogger("corridor.server")

_HTTP_CODES = {
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: PayloadTooLarge.code,
}


ErrorRenderer = Callable[[Request, int, str, str], JSONResponse]
ErrorShapes = tuple[tuple[tuple[str, ...], ErrorRenderer], ...]


def error_shapes(slices: Sequence[Slice]) -> ErrorShapes:
    """The slices' error shapes: surfaces that speak another API (MLflow) answer errors in that
    API's shape, chosen by path prefix."""
    shapes = []
    for s in slices:
        if s.error_shape is not None:
            what = f"slice {s.name!r}'s error shape"
            prefixes = load_prefixes(s.error_shape.prefixes, what=what)
            render = cast(ErrorRenderer, load_callable(s.error_shape.render, what=what))
            shapes.append((prefixes, render))
    return tuple(shapes)


def error_response(request: Request, status: int, code: str, message: str) -> JSONResponse:
    request.state.error = message
    # Set by `install_error_handlers`; the app is in the scope from its outermost layer in.
    shapes: ErrorShapes = getattr(request.app.state, "error_shapes", ())
    for prefixes, render in shapes:
        if request.url.path.startswith(prefixes):
            return render(request, status, code, message)
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _validation_message(exc: RequestValidationError) -> tuple[int, str, str]:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return 400, "malformed_json", f"request body is not valid JSON: {err.get('msg')}"
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        if err.get("type") == "extra_forbidden":
            parts.append(f"unknown field {loc!r}")
        else:
            parts.append(f"{loc or 'body'}: {err.get('msg')}")
    return 422, InvalidInput.code, "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI, shapes: ErrorShapes = ()) -> None:
    app.state.error_shapes = shapes

    @app.exception_handler(CorridorError)
    async def _corridor(request: Request, exc: CorridorError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("request failed: %s", exc.message, extra={"code": exc.code})
        return error_response(request, exc.status_code, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message = _validation_message(exc)
        return error_response(request, status, code, message)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404:
            detail = f"no route {request.method} {request.url.path}"
        return error_response(request, exc.status_code, code, detail)

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("metadata store error", exc_info=exc)
        return error_response(
            request, 503, Unavailable.code, "the metadata store is unavailable; retry shortly"
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # The last line of defence for values the schemas let through: a number too wide for a
        # 64-bit column (SQLite's driver raises OverflowError, PostgreSQL's a DataError) or a
        # value the database's type refuses. Always caused by what the client sent.
        log.warning("value out of range for the metadata store: %s", type(exc).__name__)
        return error_response(
            request,
            InvalidInput.status_code,
            InvalidInput.code,
            "a value in the request is out of range or of the wrong type for storage "
            "(integers must fit in 64 bits)",
        )
