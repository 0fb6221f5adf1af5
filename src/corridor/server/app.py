"""The app factory: one ASGI app built from the slice table (`corridor.slices`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

import corridor.slices
from corridor import __version__
from corridor.config import Settings
from corridor.errors import ConfigurationError
from corridor.runtime import Runtime
from corridor.server.errors import error_shapes, install_error_handlers
from corridor.server.lifespan import slice_lifespan
from corridor.server.metrics import HttpMetrics
from corridor.server.middleware import RequestMiddleware
from corridor.server.openapi import install_openapi
from corridor.slices import Slice, fronts, lifespan_hooks, load, unlimited_body_prefixes

# Routes open without a credential. Everything else must declare a permission (tests enforce it).
OPEN_PATHS = frozenset({"/healthz", "/api/v1/auth/login", "/api/v1/openapi.json"})


def create_app(runtime: Runtime, slices: Sequence[Slice] | None = None) -> FastAPI:
    """Build the server app over an opened runtime (the caller owns and closes it).

    ``slices`` defaults to `corridor.slices.SLICES`, read now rather than at import, so that
    whatever builds the app sees the table as it stands.
    """
    if slices is None:
        slices = corridor.slices.SLICES
    app = FastAPI(
        title="Corridor",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        # FastAPI asks OpenTelemetry for its providers on every request, before any middleware
        # (about 4 us, a tenth of the gateway's own cost); Corridor exports no OpenTelemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        lifespan=slice_lifespan(runtime, lifespan_hooks(slices)),
    )
    app.state.runtime = runtime
    app.state.metrics = HttpMetrics()
    install_error_handlers(app, error_shapes(slices))
    install_openapi(app)
    for router in routers(slices):
        app.include_router(router)
    app.add_middleware(
        RequestMiddleware,
        runtime=runtime,
        metrics=app.state.metrics,
        unlimited_prefixes=unlimited_body_prefixes(slices),
    )
    # Added last, so outermost: a front answers its own paths before the request middleware.
    for _name, front in fronts(slices):
        app.add_middleware(front, runtime=runtime)  # type: ignore[arg-type]
    return app


def routers(slices: Sequence[Slice]) -> list[APIRouter]:
    """Every slice's routers, in table order (the order routes are matched in)."""
    found = []
    for s in slices:
        for path in s.routers:
            router = load(path, what=f"slice {s.name!r}'s router")
            if not isinstance(router, APIRouter):
                raise ConfigurationError(f"slice {s.name!r}'s router ({path}) is not an APIRouter")
            found.append(router)
    return found


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
