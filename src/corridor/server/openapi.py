"""The OpenAPI document at ``/api/v1/openapi.json``, with the error body Corridor really sends.

FastAPI documents a 422 of its own shape (``{"detail": [...]}``), but every error Corridor
answers is ``{"error": {"code", "message"}}`` (server/errors.py). A client generated from the
document, or a fuzzer checking replies against it, must see that shape, on every 4xx an
operation can answer: 422 for bad input, and the 400/401/403/404/409/413 family as a range.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """What every refused request on Corridor's own API gets back."""

    error: ErrorDetail


def _error_reply(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def corridor_openapi(app: FastAPI) -> dict[str, Any]:
    """Build (once) the app's OpenAPI document with Corridor's error body on every operation."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(body.pop("$defs", {}))
    schemas["ErrorBody"] = body
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses["422"] = _error_reply("The request was malformed or a value out of range")
            responses["4XX"] = _error_reply("Refused: see the error's code and message")
    app.openapi_schema = document
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve `corridor_openapi` instead of FastAPI's default document."""

    def build() -> dict[str, Any]:
        return corridor_openapi(app)

    # FastAPI's documented way to replace the document is to assign the method.
    app.openapi = build  # type: ignore[method-assign]
