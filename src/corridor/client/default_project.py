"""The project ``default``: where work that names no project goes, made on first use.

Runs, jobs, models and studies that name no project land in ``default``, as MLflow's callers'
do on the server; the first call that needs it creates it (a caller who may not create
projects gets the server's refusal).
"""

from __future__ import annotations

import contextlib

from corridor.client.connection import Connection
from corridor.errors import AlreadyExists, NotFound

DEFAULT_PROJECT = "default"
DESCRIPTION = "Work of no other project."


def ensure_default_project(connection: Connection) -> str:
    """Create ``default`` if it is missing; its name."""
    try:
        connection.request("GET", f"/api/v1/projects/{DEFAULT_PROJECT}")
    except NotFound:
        with contextlib.suppress(AlreadyExists):
            body = {"name": DEFAULT_PROJECT, "description": DESCRIPTION}
            connection.request("POST", "/api/v1/projects", json=body)
    return DEFAULT_PROJECT
