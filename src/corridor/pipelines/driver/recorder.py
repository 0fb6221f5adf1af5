"""In-process step runs recorded in the background, many per request.

An in-process step costs microseconds; one blocking round trip per step would cost a
millisecond or more and dominate. So the driver runs such steps locally and hands their records
here: cache hits as begin entries (the server makes them ``cached`` from its own cache lookup),
ended steps as finish entries carrying their begin fields. A thread sends what has gathered every
``interval_s`` (or at once past ``max_entries``); ``flush()`` sends everything handed in so far
and waits, which the driver does before it begins any job step (so the server's records follow
the graph's order) and at the end of the run.

Requests are bounded by bytes as well as entries: the server refuses bodies past its limit (413),
which a driver cannot know in advance, so a refused batch is split in two and the smaller size
kept. A single entry the server refuses whole ends the run with the server's message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from corridor.errors import CorridorError, PayloadTooLarge
from corridor.pipelines.driver.link import MAX_ENTRIES, Link, cut
from corridor.pipelines.schemas import StepBegin, StepFinish, StepRunOut

E = TypeVar("E", StepBegin, StepFinish)

INTERVAL_S = 0.05


class Recorder:
    """Sends begin and finish entries of a run in background batches."""

    def __init__(
        self,
        link: Link,
        run_id: str,
        *,
        interval_s: float = INTERVAL_S,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._link = link
        self._run_id = run_id
        self._interval_s = interval_s
        self._max_entries = max_entries
        self._begins: list[StepBegin] = []
        self._finishes: list[StepFinish] = []
        # The last finish handed in per key, to send again if the server still shows the step
        # open when the run ends (`unrecorded`).
        self._finished: dict[str, StepFinish] = {}
        self._cond = threading.Condition()
        self._sending = threading.Lock()
        self._queued = 0  # entries handed in, ever
        self._sent = 0  # entries sent (or given up on), ever
        self._stopped = False
        self.error: CorridorError | None = None
        self.on_answer: Callable[[list[StepRunOut]], None] | None = None
        self._thread = threading.Thread(target=self._loop, name="pipeline-recorder", daemon=True)
        self._thread.start()

    def begin(self, entry: StepBegin) -> None:
        self._hand(self._begins, entry)

    def finish(self, entry: StepFinish) -> None:
        with self._cond:
            self._finished[entry.key] = entry
        self._hand(self._finishes, entry)

    def unrecorded(self, open_keys: Iterable[str]) -> list[StepFinish]:
        """The finishes handed in for steps the server still shows open."""
        with self._cond:
            return [self._finished[k] for k in open_keys if k in self._finished]

    def _hand(self, into: list[E], entry: E) -> None:
        with self._cond:
            into.append(entry)
            self._queued += 1
            if len(self._begins) + len(self._finishes) >= self._max_entries:
                self._cond.notify_all()

    def flush(self) -> None:
        """Send everything handed in so far; raise the error that stopped the recorder."""
        with self._cond:
            target = self._queued
            self._cond.notify_all()
            while self._sent < target and self.error is None:
                self._cond.wait(1.0)
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Send what is left, then stop the thread."""
        try:
            self.flush()
        finally:
            with self._cond:
                self._stopped = True
                self._cond.notify_all()
            self._thread.join(timeout=5.0)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not (self._begins or self._finishes or self._stopped):
                    self._cond.wait(self._interval_s)
                if self._stopped and not (self._begins or self._finishes):
                    return
                begins, self._begins = self._begins, []
                finishes, self._finishes = self._finishes, []
            try:
                if begins:
                    self._send(begins, self._link.begin)
                if finishes:
                    self._send(finishes, self._link.finish)
            except Exception as exc:  # the driver must hear of it, never wait for ever
                error = (
                    exc
                    if isinstance(exc, CorridorError)
                    else CorridorError(f"recording step runs failed: {type(exc).__name__}: {exc}")
                )
                with self._cond:
                    self.error = error
                    self._cond.notify_all()
                return
            with self._cond:
                self._sent += len(begins) + len(finishes)
                self._cond.notify_all()

    def _send(
        self, entries: Sequence[E], send: Callable[[str, Sequence[E]], list[StepRunOut]]
    ) -> None:
        for batch in self._batches(entries):
            try:
                answer = send(self._run_id, batch)
            except PayloadTooLarge:
                if len(batch) == 1:
                    raise
                self._send(batch, send)  # the link has lowered its budget
                continue
            if self.on_answer is not None:
                self.on_answer(answer)

    def _batches(self, entries: Sequence[E]) -> list[list[E]]:
        return cut(entries, budget=self._link.body_budget, max_entries=self._max_entries)
