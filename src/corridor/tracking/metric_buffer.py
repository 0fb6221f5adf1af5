"""Metric points queued in memory and sent in batches by a background thread.

Logging a point returns at once; the thread sends what has gathered when a batch is full, when
the oldest point has waited ``linger_s``, or when someone flushes. A failed send is kept and
raised to the caller on its next call, so an error is never silently lost, only delayed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from corridor.tracking.entities import MetricPoint
from corridor.tracking.validation import MAX_METRICS_PER_BATCH

Sender = Callable[[list[MetricPoint]], None]


class MetricBuffer:
    """Queue points for ``send``, which a daemon thread calls with up to ``batch_size`` each."""

    def __init__(
        self, send: Sender, *, linger_s: float = 1.0, batch_size: int = MAX_METRICS_PER_BATCH
    ) -> None:
        self._send = send
        self._linger_s = linger_s
        self._batch_size = batch_size
        self._cond = threading.Condition()
        self._queue: list[MetricPoint] = []
        self._oldest = 0.0
        self._busy = False
        self._flushing = False
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="corridor-metrics", daemon=True)
        self._thread.start()

    def add(self, points: Sequence[MetricPoint]) -> None:
        """Queue ``points``; raise the error of an earlier failed send, if any."""
        with self._cond:
            self._raise_pending()
            if self._closed:
                raise RuntimeError("this metric buffer is closed")
            was_empty = not self._queue
            if was_empty:
                self._oldest = time.monotonic()
            self._queue.extend(points)
            # Wake the sender to start the linger clock, or because a batch is full.
            if was_empty or len(self._queue) >= self._batch_size:
                self._cond.notify_all()

    def flush(self) -> None:
        """Send everything queued, wait until it is stored, and raise any failure."""
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            while (self._queue or self._busy) and self._error is None:
                self._cond.wait()
            self._flushing = False
            self._raise_pending()

    def close(self) -> None:
        """Flush, then stop the thread."""
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join()

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _due(self) -> bool:
        if not self._queue or self._error is not None:
            return False
        full = len(self._queue) >= self._batch_size
        aged = time.monotonic() - self._oldest >= self._linger_s
        return full or aged or self._flushing or self._closed

    def _next_batch(self) -> list[MetricPoint] | None:
        """Wait until a batch is due and take it; None when closed and drained."""
        with self._cond:
            while not self._due():
                if self._closed and (not self._queue or self._error is not None):
                    return None
                wait_s = None
                if self._queue and self._error is None:
                    wait_s = max(0.0, self._oldest + self._linger_s - time.monotonic())
                self._cond.wait(wait_s)
            batch = self._queue[: self._batch_size]
            del self._queue[: self._batch_size]
            self._oldest = time.monotonic()
            self._busy = True
            return batch

    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._send(batch)
            except BaseException as exc:  # kept for the caller, who raises it
                with self._cond:
                    self._error = self._error or exc
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
