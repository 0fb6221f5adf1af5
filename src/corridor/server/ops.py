"""Operational routes: liveness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from corridor import __version__
from corridor.security.policy import Permission
from corridor.web.guard import Access, get_runtime, requires

router = APIRouter()


@router.get("/healthz", tags=["ops"])
def healthz(request: Request, access: Access = requires(Permission.PUBLIC)) -> dict[str, str]:
    """Report that the server is up and its metadata store answers."""
    with get_runtime(request).db.read() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__}


@router.get(
    "/metrics",
    tags=["ops"],
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request, access: Access = requires(Permission.SERVER_ADMIN)) -> Response:
    body: bytes = request.app.state.metrics.render()
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
