"""What an SDK part needs of `corridor.Client`: its connection, and how an error reply reads.

SDK parts that are not mixed into the client (the data SDK, `Client.data`) are typed against
`Connection` rather than the `Client` class, so that they never import the module that imports
them. The mixins and the client share `error_from`, for replies they read as streams.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from corridor.config import Settings
from corridor.errors import CorridorError, error_class


class Connection(Protocol):
    """A client's connection to Corridor (`corridor.Client` is one)."""

    settings: Settings
    http: httpx.Client

    @property
    def in_process(self) -> bool:
        """Whether the app runs in this process (sources are then read where they are)."""
        ...

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; an error reply becomes the matching `CorridorError`."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def error_from(response: httpx.Response) -> CorridorError:
    """The `CorridorError` an error reply stands for, carrying the reply's status code."""
    try:
        error = response.json()["error"]
        cls = error_class(str(error["code"]))
        message = str(error["message"])
    except (ValueError, KeyError, TypeError):
        cls, message = CorridorError, f"HTTP {response.status_code}: {response.text[:200]}"
    exc = cls(message)
    exc.status_code = response.status_code
    return exc
