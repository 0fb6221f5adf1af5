"""Registering an MLflow endpoint under every prefix MLflow serves it on."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pydantic_core
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

# Any handler: FastAPI reads its signature, so the decorator keeps it as it is.
F = TypeVar("F", bound=Callable[..., object])

# The client calls /api/2.0/...; MLflow's own web UI calls the same handlers under /ajax-api.
PREFIXES = ("/api/2.0", "/ajax-api/2.0")


def endpoint(router: APIRouter, method: str, path: str) -> Callable[[F], F]:
    """Serve the decorated handler at ``method`` ``<prefix><path>`` for each of `PREFIXES`.

    MLflow routes stay out of Corridor's OpenAPI document: MLflow's protos describe them.
    """

    def register(handler: F) -> F:
        for prefix in PREFIXES:
            router.add_api_route(prefix + path, handler, methods=[method], include_in_schema=False)
        return handler

    return register


class MlflowJSON(JSONResponse):
    """JSON written by pydantic-core: several times faster than ``json`` on big replies (a
    metric history page holds 25,000 points)."""

    def render(self, content: Any) -> bytes:  # Starlette's signature: any JSON-able content
        return pydantic_core.to_json(content)


def reply(body: Mapping[str, object] | None = None) -> JSONResponse:
    """An MLflow JSON reply; most writes answer an empty object."""
    return MlflowJSON(dict(body or {}))


def json_reply(body: bytes) -> Response:
    """An MLflow reply whose JSON is written already."""
    return Response(body, media_type=MlflowJSON.media_type)


def page_reply(key: str, items: Sequence[object], next_page_token: str | None) -> JSONResponse:
    """One page of a listing: the items under ``key``, and the token of the next page if any."""
    body: dict[str, object] = {key: list(items)}
    if next_page_token:
        body["next_page_token"] = next_page_token
    return reply(body)
