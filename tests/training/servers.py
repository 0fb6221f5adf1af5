"""A live server per test module, on SQLite or on a PostgreSQL database of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import LiveServer, _pg_admin, _pg_url, clean_env, serving, sqlite_url


@contextmanager
def module_server_on(
    request: pytest.FixtureRequest, factory: pytest.TempPathFactory, backend: str, name: str
) -> Iterator[LiveServer]:
    """A server over a fresh home on ``backend`` (``sqlite`` or ``postgres``) until the block
    ends; PostgreSQL's database is a copy of the migrated template, dropped afterwards."""
    home = factory.mktemp(name) / "home"
    home.mkdir()
    database: str | None = None
    if backend == "sqlite":
        url = sqlite_url(home)
    else:
        template = request.getfixturevalue("pg_template")
        database = f"corridor_test_{uuid.uuid4().hex[:12]}"
        _pg_admin(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        url = _pg_url(database)
    try:
        with clean_env(), serving(home, url) as live:
            yield live
    finally:
        if database is not None:
            _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
