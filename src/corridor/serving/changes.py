"""The in-process hook between the serving control plane and the controllers of this process.

The control service calls `notify()` after it commits a change to a deployment (deploy, scale,
rollback, delete, from whatever thread ran the request); every serving controller of this
process then reconciles at once instead of at its next poll. Controllers of other processes
see the change at their next poll (`corridor.serving.controller.POLL_S`).

``notify`` only schedules a wake-up on each controller's event loop, thread-safely; it never
blocks and never fails the caller's request (a controller whose loop has closed is skipped).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

_lock = threading.Lock()
_wakers: dict[int, Callable[[], None]] = {}
_next = 0


def subscribe(wake: Callable[[], None]) -> int:
    """Call ``wake`` on every `notify`; returns the token `unsubscribe` takes."""
    global _next
    with _lock:
        _next += 1
        _wakers[_next] = wake
        return _next


def unsubscribe(token: int) -> None:
    with _lock:
        _wakers.pop(token, None)


def notify() -> None:
    """A deployment changed: every controller of this process reconciles now."""
    with _lock:
        wakers = list(_wakers.values())
    for wake in wakers:
        # A RuntimeError: its event loop has closed, so that controller is gone.
        with contextlib.suppress(RuntimeError):
            wake()
