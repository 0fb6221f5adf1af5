"""The route table is the policy: every route must declare exactly one permission."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant

from corridor.security.policy import Permission
from corridor.server.app import OPEN_PATHS, route_table
from corridor.web.guard import Guard


def _guards(dependant: Dependant) -> list[Guard]:
    found = [dependant.call] if isinstance(dependant.call, Guard) else []
    for sub in dependant.dependencies:
        found.extend(_guards(sub))
    return found


def unguarded(app: FastAPI) -> list[str]:
    problems = []
    for route in route_table(app):
        if route.dependant is None:
            if route.path not in OPEN_PATHS:
                problems.append(f"{route.path}: not a guarded API route and not allowlisted")
            continue
        guards = _guards(route.dependant)
        if len(guards) != 1:
            problems.append(f"{sorted(route.methods)} {route.path}: {len(guards)} guards, want 1")
        elif guards[0].permission is Permission.PUBLIC and route.path not in OPEN_PATHS:
            problems.append(f"{route.path}: public but not on the allowlist")
    return problems


def test_every_route_declares_a_permission(app: FastAPI) -> None:
    assert len(route_table(app)) > 10
    assert unguarded(app) == []


def test_the_check_catches_an_unguarded_route(app: FastAPI) -> None:
    @app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    assert unguarded(app) == ["['GET'] /api/v1/forgotten: 0 guards, want 1"]
