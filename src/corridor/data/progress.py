"""Progress of long operations, for callers in the same process as the app.

An in-process client (``corridor.Client()`` without a URL) registers a callback and sends its
token in the ``x-corridor-progress`` header; the route looks the token up and reports to it.
Over HTTP the token names nothing in the server's process and is ignored, and the client shows
the progress it can see itself (bytes uploaded).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from corridor.data.staging import Progress, no_progress

HEADER = "x-corridor-progress"
_listeners: dict[str, Progress] = {}
_lock = threading.Lock()


@contextmanager
def listening(callback: Progress) -> Iterator[str]:
    """Register ``callback`` for the block; yield the token to send in `HEADER`."""
    token = secrets.token_hex(16)
    with _lock:
        _listeners[token] = callback
    try:
        yield token
    finally:
        with _lock:
            _listeners.pop(token, None)


def listener(token: str | None, *, in_process: bool) -> Progress:
    """The callback ``token`` names, if the app runs in-process; else one that does nothing."""
    if not in_process or not token:
        return no_progress
    with _lock:
        return _listeners.get(token, no_progress)
