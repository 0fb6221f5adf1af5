"""Fixtures for security tests that speak to a server: its runtime, app, client and world."""

from __future__ import annotations

from tests.server.conftest import app, http, runtime, world  # noqa: F401 (fixtures)
