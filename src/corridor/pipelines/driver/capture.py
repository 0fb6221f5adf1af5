"""What an in-process step prints, kept as that step's logs.

In-process steps share the driver's process and run on a thread pool, so their output cannot be
told apart by file descriptor as a job's can. Instead, while a run executes, ``sys.stdout`` and
``sys.stderr`` are proxies that send each write to the buffer of the writing thread's step, when
that thread is running one, and to the real stream otherwise (the driver's own lines, other
threads). Output written below Python (a C library writing to fd 1) is not captured.

The proxies are installed for as long as any run in the process executes (counted), and removed
only if nobody replaced them meanwhile (a test harness swapping streams keeps its own).
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

MAX_LOG_BYTES = 8 * 1024 * 1024

_local = threading.local()
_lock = threading.Lock()
_installs = 0


class _ThreadStream(io.TextIOBase):
    """A text stream that writes to the current thread's step buffer, or to ``original``."""

    def __init__(self, original: TextIO) -> None:
        super().__init__()
        self.original = original

    def write(self, text: str) -> int:
        buffer: io.StringIO | None = getattr(_local, "buffer", None)
        if buffer is None:
            return self.original.write(text)
        if buffer.tell() < MAX_LOG_BYTES:
            buffer.write(text)
        return len(text)

    def flush(self) -> None:
        if getattr(_local, "buffer", None) is None:
            self.original.flush()

    def isatty(self) -> bool:
        return self.original.isatty()

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


def install() -> None:
    """Put the proxies in place (counted: once per executing run)."""
    global _installs
    with _lock:
        _installs += 1
        if not isinstance(sys.stdout, _ThreadStream):
            sys.stdout = _ThreadStream(sys.stdout)
        if not isinstance(sys.stderr, _ThreadStream):
            sys.stderr = _ThreadStream(sys.stderr)


def uninstall() -> None:
    """Take the proxies away when the last executing run ends."""
    global _installs
    with _lock:
        _installs = max(0, _installs - 1)
        if _installs:
            return
        if isinstance(sys.stdout, _ThreadStream):
            sys.stdout = sys.stdout.original
        if isinstance(sys.stderr, _ThreadStream):
            sys.stderr = sys.stderr.original


@contextmanager
def captured() -> Iterator[io.StringIO]:
    """Capture what this thread prints until the block ends (the buffer holds it)."""
    previous = getattr(_local, "buffer", None)
    buffer = io.StringIO()
    _local.buffer = buffer
    try:
        yield buffer
    finally:
        _local.buffer = previous
