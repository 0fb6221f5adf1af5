"""Every route against every kind of caller: who gets through, who gets 403, who sees nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from corridor.server.app import route_table
from tests.server.conftest import World

CALLERS = (None, "nobody", "mallory", "vic", "ed", "alice", "root")
# The lowest rank that may call each kind of route; ranks follow CALLERS' order.
RANK = {None: 0, "nobody": 1, "mallory": 1, "vic": 2, "ed": 3, "alice": 4, "root": 5}
LEVEL_RANK = {"public": 0, "auth": 1, "viewer": 2, "editor": 3, "admin": 4, "server": 5}


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    level: str
    body: Any = None
    url: str = ""

    @property
    def target(self) -> str:
        return self.url or self.path


CASES = [
    Case("GET", "/healthz", "public"),
    Case("GET", "/metrics", "server"),
    Case("POST", "/api/v1/auth/login", "public", {"username": "x", "password": "y"}),
    Case("GET", "/api/v1/auth/whoami", "auth"),
    Case("POST", "/api/v1/users", "server", {"name": "newbie"}),
    Case("GET", "/api/v1/users", "server"),
    Case("POST", "/api/v1/tokens", "auth", {"name": "more"}),
    Case("GET", "/api/v1/tokens", "auth"),
    Case("DELETE", "/api/v1/tokens/{token_id}", "auth", url="/api/v1/tokens/OWN"),
    Case("POST", "/api/v1/projects", "auth", {"name": "fresh"}),
    Case("GET", "/api/v1/projects", "auth"),
    Case("GET", "/api/v1/projects/{project}", "viewer", url="/api/v1/projects/p"),
    Case(
        "PATCH",
        "/api/v1/projects/{project}",
        "editor",
        {"description": "d"},
        url="/api/v1/projects/p",
    ),
    Case("DELETE", "/api/v1/projects/{project}", "admin", url="/api/v1/projects/p"),
    Case("GET", "/api/v1/projects/{project}/members", "viewer", url="/api/v1/projects/p/members"),
    Case(
        "PUT",
        "/api/v1/projects/{project}/members/{user}",
        "admin",
        {"role": "viewer"},
        url="/api/v1/projects/p/members/nobody",
    ),
    Case(
        "DELETE",
        "/api/v1/projects/{project}/members/{user}",
        "admin",
        url="/api/v1/projects/p/members/vic",
    ),
    Case("GET", "/api/v1/audit", "server"),
    Case("GET", "/api/v1/audit/verify", "server"),
]


def _own_token_id(http: httpx.Client, world: World, caller: str | None) -> str:
    if caller is None:
        return "0" * 32
    listing = http.get("/api/v1/tokens", headers=world.auth(caller)).json()
    return str(listing[0]["id"])


def _expected(case: Case, caller: str | None) -> set[int]:
    rank, need = RANK[caller], LEVEL_RANK[case.level]
    if need == 0:
        return {200, 201, 204, 401} if case.path.endswith("login") else {200}
    if caller is None:
        return {401}
    if case.level in ("viewer", "editor", "admin") and caller in ("nobody", "mallory"):
        return {404}  # outsiders cannot tell the project exists
    return {200, 201, 204} if rank >= need else {403}


def test_matrix_covers_every_route(app: FastAPI) -> None:
    routes = {
        (method, route.path)
        for route in route_table(app)
        if route.dependant is not None
        for method in route.methods
    }
    assert routes == {(c.method, c.path) for c in CASES}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c or "anonymous")
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
def test_rbac_matrix(http: httpx.Client, world: World, case: Case, caller: str | None) -> None:
    url = case.target.replace("OWN", _own_token_id(http, world, caller))
    response = http.request(case.method, url, json=case.body, headers=world.auth(caller))
    assert response.status_code in _expected(case, caller), response.text
    if response.status_code >= 400:
        assert set(response.json()) == {"error"}
