"""The app factory: one ASGI app mounting every slice's router."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from corridor import __version__
from corridor.config import Settings
from corridor.runtime import Runtime
from corridor.security.api import router as security_router
from corridor.server.errors import install_error_handlers
from corridor.server.metrics import HttpMetrics
from corridor.server.middleware import RequestMiddleware
from corridor.server.ops import router as ops_router

# Each slice contributes its router here: one line per slice.
ROUTERS: tuple[APIRouter, ...] = (ops_router, security_router)

# Routes open without a credential. Everything else must declare a permission (tests enforce it).
OPEN_PATHS = frozenset({"/healthz", "/api/v1/auth/login", "/api/v1/openapi.json"})


def create_app(runtime: Runtime) -> FastAPI:
    """Build the server app over an opened runtime (the caller owns and closes it)."""

    app = FastAPI(
        title="Corridor",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.metrics = HttpMetrics()
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(RequestMiddleware, runtime=runtime, metrics=app.state.metrics)
    return app


def create_app_from_settings(settings: Settings) -> FastAPI:
    return create_app(Runtime(settings))


@dataclass(frozen=True)
class RouteInfo:
    """One route as the server will match it; ``dependant`` is None for non-API routes."""

    path: str
    methods: frozenset[str]
    dependant: Dependant | None


def route_table(app: FastAPI) -> list[RouteInfo]:
    """Every route of ``app``, with included routers flattened."""
    table = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = str(context.path or getattr(route, "path", ""))
        methods = frozenset(context.methods or ())
        dependant = route.dependant if isinstance(route, APIRoute) else None
        table.append(RouteInfo(path=path, methods=methods, dependant=dependant))
    return table
