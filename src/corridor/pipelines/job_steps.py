"""Step runs as compute jobs: their job bodies, waiting for them, and how a failed one reads.

A job step is a function job of ``corridor.pipelines.step_job`` (an installed function, so every
worker has it) over the run's code snapshot: ``run_step(module, qualname, args, kwargs)`` for
one call, ``run_items(module, qualname, items, kwargs)`` for a chunk of a mapped step. It is
placed, retried and timed out by the compute scheduler like any job, with the step's options;
its env names the pipeline run and the step (``current_step()`` reads them on the worker).

Waiting: a few threads follow every live job with the server's long poll. When more jobs are
live than threads, each poll is short and the job goes back in line, so one slow job never hides
another that has ended.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from corridor.client.job_future import LONG_POLL_S
from corridor.compute.sansio import payload
from corridor.compute.sansio.states import TERMINAL
from corridor.compute.schemas import FunctionRefIn, JobOut, JobSubmit
from corridor.errors import CorridorError
from corridor.pipelines.link import Link
from corridor.pipelines.sansio.graph import Node
from corridor.pipelines.schemas import RunOut

STEP_FUNCTION = FunctionRefIn(
    module="corridor.pipelines.step_job", qualname="run_step", source="installed"
)
ITEMS_FUNCTION = FunctionRefIn(
    module="corridor.pipelines.step_job", qualname="run_items", source="installed"
)
WAITERS = 16
SHORT_POLL_S = 1.0
TRACEBACK_MARK = "Traceback (most recent call last):"
MAX_TRACEBACK_CHARS = 64 * 1024


def job_body(
    run: RunOut,
    node: Node,
    *,
    key: str,
    function: FunctionRefIn,
    call_args: Sequence[object],
    snapshot: str | None,
    name: str | None = None,
) -> JobSubmit:
    """The job of one step run (or of one map chunk: ``key`` is the map's, ``name`` tells the
    chunk)."""
    options: dict[str, Any] = node.options
    data = payload.encode_call(list(call_args), {})
    env = {**dict(options.get("env") or {}), "PIPELINE_RUN_ID": run.id, "PIPELINE_STEP": key}
    fields: dict[str, Any] = {
        "function": function,
        "input_b64": _b64(data),
        "snapshot": snapshot,
        "env": env,
        "cpus": options.get("cpus", 1.0),
        "memory": options.get("memory", 0),
        "gpus": options.get("gpus", 0.0),
        "gpu_type": options.get("gpu_type"),
        "site": options.get("site") or run.site,
        "objective": options.get("objective"),
        "retries": options.get("retries", 0),
        "backoff_s": options.get("backoff_s", 1.0),
        "timeout": options.get("timeout"),
        "name": f"{run.pipeline}/{name or key}"[:128],
        "datasets": payload.dataset_refs(list(call_args))[:64],
    }
    return JobSubmit.model_validate(fields)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def traceback_of(log: bytes) -> str | None:
    """The last Python traceback in a job's log, to its end (at most 64 KiB of it)."""
    text = log.decode("utf-8", errors="replace")
    at = text.rfind(TRACEBACK_MARK)
    if at < 0:
        return text[-MAX_TRACEBACK_CHARS:] or None
    return text[at:][-MAX_TRACEBACK_CHARS:]


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
            except CorridorError as exc:
                self._ended(job_id, None, exc)
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
