"""The app factory: one ASGI app mounting every slice's router."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from corridor import __version__
from corridor.config import Settings
from corridor.data.api import UPLOAD_PREFIX as DATA_UPLOAD_PREFIX
from corridor.data.api import router as data_router
from corridor.mlflow_compat import api as mlflow_api
from corridor.registry.api import router as registry_router
from corridor.registry.api_packages import UPLOAD_PREFIX as REGISTRY_UPLOAD_PREFIX
from corridor.runtime import Runtime
from corridor.security.api import router as security_router
from corridor.server.errors import install_error_handlers
from corridor.server.metrics import HttpMetrics
from corridor.server.middleware import RequestMiddleware
from corridor.server.openapi import install_openapi
from corridor.server.ops import router as ops_router
from corridor.tracking.api import router as tracking_router
from corridor.tracking.artifacts_api import PREFIX as ARTIFACTS_PREFIX
from corridor.tracking.artifacts_api import router as artifacts_router

# Each slice contributes its router here: one line per slice.
ROUTERS: tuple[APIRouter, ...] = (ops_router, security_router)
ROUTERS += (tracking_router, artifacts_router)
ROUTERS += (mlflow_api.router,)
ROUTERS += (registry_router,)
ROUTERS += (data_router,)

# Routes open without a credential. Everything else must declare a permission (tests enforce it).
OPEN_PATHS = frozenset({"/healthz", "/api/v1/auth/login", "/api/v1/openapi.json"})

# Routes that stream request bodies of any size (uploads); every other route has the body limit.
UNLIMITED_BODY_PREFIXES: tuple[str, ...] = (ARTIFACTS_PREFIX + "/",)
UNLIMITED_BODY_PREFIXES += mlflow_api.UNLIMITED_BODY_PREFIXES
UNLIMITED_BODY_PREFIXES += (REGISTRY_UPLOAD_PREFIX,)
UNLIMITED_BODY_PREFIXES += (DATA_UPLOAD_PREFIX,)


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
    install_openapi(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(
        RequestMiddleware,
        runtime=runtime,
        metrics=app.state.metrics,
        unlimited_prefixes=UNLIMITED_BODY_PREFIXES,
    )
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
