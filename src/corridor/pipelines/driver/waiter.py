"""Following jobs until they end: a few threads on the server's long poll for many jobs.

When more jobs are live than threads, each poll is short and the job goes back in line, so one
slow job never hides another that has ended.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from corridor.compute.sansio.states import TERMINAL
from corridor.compute.schemas import LONG_POLL_S, JobOut
from corridor.errors import CorridorError
from corridor.pipelines.driver.link import Link

WAITERS = 16
SHORT_POLL_S = 1.0


class JobWaiter:
    """Follows jobs until they end; ``on_end(job_id, job, error)`` hears each end (``error``:
    the server could not be reached for ``reconnect_s``)."""

    def __init__(
        self,
        link: Link,
        on_end: Callable[[str, JobOut | None, CorridorError | None], None],
        *,
        threads: int = WAITERS,
    ) -> None:
        self._link = link
        self._on_end = on_end
        self._max_threads = threads
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._live = 0
        self._lock = threading.Lock()

    def watch(self, job_id: str) -> None:
        with self._lock:
            self._live += 1
            if len(self._threads) < min(self._max_threads, self._live):
                thread = threading.Thread(target=self._loop, name="pipeline-waiter", daemon=True)
                self._threads.append(thread)
                thread.start()
        self._queue.put(job_id)

    def stop(self) -> None:
        self._stopped.set()
        for _ in self._threads:
            self._queue.put(None)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            job_id = self._queue.get()
            if job_id is None or self._stopped.is_set():
                return
            with self._lock:
                crowded = self._live > len(self._threads)
            try:
                job = self._link.wait_job(job_id, SHORT_POLL_S if crowded else LONG_POLL_S)
            except Exception as exc:  # a waiter thread must never die with a job unreported
                error = exc if isinstance(exc, CorridorError) else CorridorError(str(exc))
                self._ended(job_id, None, error)
                continue
            if job.state in TERMINAL:
                self._ended(job_id, job, None)
            else:
                self._queue.put(job_id)

    def _ended(self, job_id: str, job: JobOut | None, error: CorridorError | None) -> None:
        with self._lock:
            self._live -= 1
        if not self._stopped.is_set():
            self._on_end(job_id, job, error)
