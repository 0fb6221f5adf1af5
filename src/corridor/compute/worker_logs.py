"""Streaming a job's merged stdout and stderr to the server, bytes exactly as written.

One thread reads the pipe as it fills (so the job never blocks on a full pipe); another ships
what has gathered every ``FLUSH_S`` or as soon as ``CHUNK_BYTES`` are waiting, each chunk with
the next ``seq``. The server stores a chunk once per seq, so a chunk resent after a lost
response is harmless; chunks go strictly in order, so a reader's byte offsets never move.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from corridor.compute.worker_link import NETWORK_ERRORS, Fenced, LinkError, WorkerLink

CHUNK_BYTES = 64 * 1024
FLUSH_S = 0.2
READ_BYTES = 64 * 1024
RETRY_S = 0.5


class LogShipper:
    """Reads ``fd`` to its end and ships every byte, in order, as numbered chunks."""

    def __init__(
        self,
        link: WorkerLink,
        fd: int,
        *,
        give_up: Callable[[], bool],
        on_fenced: Callable[[], None],
    ) -> None:
        self._link = link
        self._fd = fd
        self._give_up = give_up
        self._on_fenced = on_fenced
        self._pending = bytearray()
        self._eof = False
        self._lock = threading.Condition()
        self.seq = 0
        self.shipped_bytes = 0
        self.failed: str | None = None
        self._reader = threading.Thread(target=self._read, name="job-log-reader", daemon=True)
        self._shipper = threading.Thread(target=self._ship, name="job-log-shipper", daemon=True)

    def start(self) -> None:
        self._reader.start()
        self._shipper.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._fd, READ_BYTES)
            except OSError:
                data = b""
            with self._lock:
                if not data:
                    self._eof = True
                    self._lock.notify_all()
                    return
                if self.failed is None:  # nowhere to send it: drop, but keep the pipe flowing
                    self._pending += data
                # Wake the shipper for the first bytes too: it starts the FLUSH_S clock, and
                # without this a quiet job's few lines would wait for its end to be shipped.
                self._lock.notify_all()

    def _next_chunk(self) -> bytes | None:
        """Wait for a chunk worth sending; None once the pipe is drained."""
        with self._lock:
            first_seen: float | None = None
            while True:
                if len(self._pending) >= CHUNK_BYTES or (self._eof and self._pending):
                    break
                if self._eof:
                    return None
                now = time.monotonic()
                if self._pending:
                    first_seen = first_seen or now
                    if now - first_seen >= FLUSH_S:
                        break
                    self._lock.wait(FLUSH_S - (now - first_seen))
                else:
                    first_seen = None
                    self._lock.wait()
            chunk = bytes(self._pending[:CHUNK_BYTES])
            del self._pending[:CHUNK_BYTES]
            return chunk

    def _ship(self) -> None:
        while True:
            chunk = self._next_chunk()
            if chunk is None:
                return
            if not self._send(chunk):
                return

    def _send(self, chunk: bytes) -> bool:
        while True:
            try:
                self._link.request(
                    "POST",
                    "logs",
                    body=chunk,
                    content_type="application/octet-stream",
                    query=f"seq={self.seq}",
                )
            except Fenced:
                self.failed = "fenced"
                self._on_fenced()
                return False
            except LinkError as exc:
                self.failed = f"log chunk {self.seq} refused: {exc}"
                return False
            except NETWORK_ERRORS:
                if self._give_up():
                    self.failed = "server unreachable"
                    return False
                time.sleep(RETRY_S)
                continue
            self.seq += 1
            self.shipped_bytes += len(chunk)
            return True

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait until everything read has been shipped (or shipping gave up); True if done."""
        self._reader.join(timeout_s)
        self._shipper.join(timeout_s)
        return not self._shipper.is_alive()
