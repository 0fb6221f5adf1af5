"""Fixtures for server tests: a runtime, its app, and clients that speak to it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from corridor.client.transport import InProcessTransport
from corridor.config import Settings
from corridor.runtime import Runtime
from corridor.security import identity, projects
from corridor.security.policy import Principal, Role
from corridor.server.app import create_app
from tests.conftest import premigrate
from tests.tracking.seed import seed_tracking


@pytest.fixture
def runtime(settings: Settings, sqlite_template: Path) -> Iterator[Runtime]:
    premigrate(settings.effective_database_url, sqlite_template)
    rt = Runtime(settings)
    yield rt
    rt.close()


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime)


@pytest.fixture
def http(app: FastAPI) -> Iterator[httpx.Client]:
    """An HTTP client with no credential, speaking to the app in-process."""
    transport = InProcessTransport(app)
    with httpx.Client(transport=transport, base_url="http://corridor.test") as client:
        yield client


@dataclass
class World:
    """Users, tokens and projects for access-control tests.

    ``p`` has admin ``alice``, editor ``ed`` and viewer ``vic``; ``mallory`` is only in ``q``.
    ``root`` is a server administrator.
    """

    tokens: dict[str, str]
    # Ids of things inside ``p``, by the placeholder that stands for them in test URLs.
    ids: dict[str, str] = field(default_factory=dict)

    def auth(self, user: str | None) -> dict[str, str]:
        return {} if user is None else {"authorization": f"Bearer {self.tokens[user]}"}


def build_world(runtime: Runtime) -> World:
    tokens: dict[str, str] = {}
    ttl = dt.timedelta(days=1)
    with runtime.db.write() as session:
        users = {}
        for name in ("root", "alice", "ed", "vic", "mallory", "nobody"):
            user = identity.create_user(session, name, is_admin=name == "root")
            users[name] = user
            tokens[name] = identity.issue_token(session, user, name="t", ttl=ttl).secret
        alice = Principal(user_id=users["alice"].id, name="alice", is_admin=False)
        mallory = Principal(user_id=users["mallory"].id, name="mallory", is_admin=False)
        p = projects.create_project(session, "p", description="", by=alice)
        projects.create_project(session, "q", description="", by=mallory)
        projects.grant(session, p, "ed", Role.EDITOR)
        projects.grant(session, p, "vic", Role.VIEWER)
    return World(tokens=tokens, ids=seed_tracking(runtime))


@pytest.fixture
def world(runtime: Runtime) -> World:
    return build_world(runtime)
