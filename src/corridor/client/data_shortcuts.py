"""``corridor.data.ingest(...)`` and ``corridor.data.get(...)``: one call, on a client of its own.

Each opens a `Client` (in-process, or per ``CORRIDOR_URL`` or a saved login), makes one call
through ``client.data`` and closes it. Code making several calls holds a client instead.
"""

from __future__ import annotations

from typing import Any

from corridor.client.client import Client
from corridor.client.data import To
from corridor.data.schemas import IngestOut

__all__ = ["get", "ingest"]


def ingest(source: Any, name: str, *, project: str, **kwargs: Any) -> IngestOut:
    """Ingest ``source`` as the next version of ``project``/``name``; see `DataClient.ingest`."""
    with Client() as client:
        return client.data.ingest(source, name, project=project, **kwargs)


def get(ref: str, *, project: str | None = None, to: To = "polars", **kwargs: Any) -> Any:
    """A version's data (``to="polars"|"arrow"|"pandas"``); see `DataClient.get`."""
    with Client() as client:
        return client.data.get(ref, project=project, to=to, **kwargs)
