"""The driver's line to the server: every call of a pipeline run, retried through outages.

A driver outlives blips of its server: a `kill -9` and a restart, a proxy answering 502 while
the server comes back. Jobs keep running on their workers meanwhile, so the driver only has to
wait and resend. Every call here is idempotent on the server (begin and finish are keyed by
step key, the graph is put once, finishing a run twice is a no-op), so a call whose answer was
lost is sent again as is: on a connection error or a 502/503/504, with a growing pause, for up
to ``reconnect_s`` from the first failure. A call that is not idempotent (creating a run) is
resent only when the connection was refused, when the server cannot have seen it.

Anything else (a 4xx, a 500) is the server's answer and reaches the caller at once.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from corridor.compute.schemas import LONG_POLL_S, JobOut, SiteOut
from corridor.errors import CorridorError, PayloadTooLarge, Unavailable
from corridor.pipelines.schemas import (
    CacheIndexOut,
    RunFinish,
    RunOut,
    RunView,
    StepBegin,
    StepFinish,
    StepRunOut,
)

if TYPE_CHECKING:
    from corridor.client.connection import Connection

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", StepBegin, StepFinish)
MAX_ENTRIES = 500

RECONNECT_S = 300.0
LOG_TAIL_BYTES = 64 * 1024
FIRST_BODY_BUDGET = 4 * 1024 * 1024
_LIMIT = re.compile(r"limit of (\d+) bytes")
_RETRY_STATUSES = frozenset({502, 503, 504})
_FIRST_PAUSE_S = 0.2
_MAX_PAUSE_S = 2.0
_STEP_LIST = TypeAdapter(list[StepRunOut])

Sender = Callable[..., httpx.Response]


def _sent_nothing(exc: CorridorError) -> bool:
    """Whether the request surely never reached the server (the connection was refused)."""
    cause = exc.__cause__
    return isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout)


def _retryable(exc: CorridorError) -> bool:
    return isinstance(exc, Unavailable) or exc.status_code in _RETRY_STATUSES


class Link:
    """A pipeline run's calls over ``connection``, each retried through outages.

    ``send`` is the connection's request function: compute's, for a client without a URL, so
    that the run and its jobs live on the same (loopback) server.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        send: Sender | None = None,
        reconnect_s: float = RECONNECT_S,
    ) -> None:
        self.connection = connection
        self._send = send or connection.request
        self.reconnect_s = reconnect_s
        self._closed = threading.Event()
        # The most bytes one batch of step entries should take: the server's limit is learnt
        # from its first refusal (413), since a client cannot ask for it.
        self.body_budget = FIRST_BODY_BUDGET

    def close(self) -> None:
        """Stop retrying: calls still waiting for the server give up at their next pause."""
        self._closed.set()

    def call(
        self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """Send a request; resend it through connection errors and 502/503/504 for up to
        ``reconnect_s`` (only refused connections when ``idempotent`` is false)."""
        pause = _FIRST_PAUSE_S
        started: float | None = None
        while True:
            try:
                return self._send(method, path, **kwargs)
            except PayloadTooLarge as exc:
                self._learn_limit(exc)
                raise
            except CorridorError as exc:
                if not _retryable(exc) or not (idempotent or _sent_nothing(exc)):
                    raise
                now = time.monotonic()
                started = now if started is None else started
                if now - started >= self.reconnect_s or self._closed.is_set():
                    raise
            self._closed.wait(pause)
            pause = min(pause * 2, _MAX_PAUSE_S)

    def _learn_limit(self, exc: PayloadTooLarge) -> None:
        """Keep request bodies under the limit a refusal names (with room for headers)."""
        found = _LIMIT.search(exc.message)
        limit = int(found.group(1)) if found else self.body_budget // 2
        self.body_budget = max(1024, min(self.body_budget // 2, int(limit * 0.9)))

    def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(self.call(method, path, **kwargs).json())

    # The run.
    def create_run(self, project: str, pipeline: str, body: dict[str, object]) -> RunOut:
        path = f"/api/v1/projects/{project}/pipelines/{pipeline}/runs"
        return self._model(RunOut, "POST", path, json=body, idempotent=False)

    def run(self, run_id: str) -> RunOut:
        return self.view(run_id).run

    def view(self, run_id: str) -> RunView:
        return self._model(RunView, "GET", f"/api/v1/pipeline-runs/{run_id}")

    def put_graph(self, run_id: str, graph: dict[str, object]) -> None:
        self.call("PUT", f"/api/v1/pipeline-runs/{run_id}/graph", json={"graph": graph})

    def heartbeat(self, run_id: str) -> None:
        self.call("POST", f"/api/v1/pipeline-runs/{run_id}/heartbeat")

    def cache_index(self, run_id: str, code_digests: Sequence[str]) -> CacheIndexOut:
        body = {"code_digests": sorted(set(code_digests))}
        path = f"/api/v1/pipeline-runs/{run_id}/cache-index"
        return self._model(CacheIndexOut, "POST", path, json=body)

    def begin(self, run_id: str, entries: Sequence[StepBegin]) -> list[StepRunOut]:
        body = {"steps": [e.model_dump(mode="json", exclude_none=True) for e in entries]}
        response = self.call("POST", f"/api/v1/pipeline-runs/{run_id}/steps/begin", json=body)
        return _STEP_LIST.validate_python(response.json())

    def begin_all(self, run_id: str, entries: Sequence[StepBegin], into: list[StepRunOut]) -> None:
        """Begin ``entries`` in as few requests as the server's limit allows (job groups kept
        whole), adding the answers to ``into`` as they come."""
        pending = list(entries)
        while pending:
            batch = cut(pending, budget=self.body_budget)[0]
            try:
                into.extend(self.begin(run_id, batch))
            except PayloadTooLarge:
                group = batch[0].job_group
                if len(batch) == 1 or (
                    group is not None and all(e.job_group == group for e in batch)
                ):
                    raise
                continue  # the budget went down: cut again
            pending = pending[len(batch) :]

    def finish(self, run_id: str, entries: Sequence[StepFinish]) -> list[StepRunOut]:
        body = {"steps": [e.model_dump(mode="json", exclude_none=True) for e in entries]}
        response = self.call("POST", f"/api/v1/pipeline-runs/{run_id}/steps/finish", json=body)
        return _STEP_LIST.validate_python(response.json())

    def finish_run(self, run_id: str, body: RunFinish) -> RunOut:
        path = f"/api/v1/pipeline-runs/{run_id}/finish"
        return self._model(RunOut, "POST", path, json=body.model_dump(mode="json"))

    def step_output(self, run_id: str, key: str) -> bytes:
        return self.call("GET", f"/api/v1/pipeline-runs/{run_id}/steps/{key}/output").content

    def artifact(self, project: str, digest: str) -> bytes:
        return self.call("GET", f"/api/v1/projects/{project}/pipeline-artifacts/{digest}").content

    # Jobs.
    def wait_job(self, job_id: str, timeout_s: float = LONG_POLL_S) -> JobOut:
        """The job once it has ended, or as it is after ``timeout_s`` (the server's long poll)."""
        response = self.call(
            "GET",
            f"/api/v1/jobs/{job_id}/wait",
            params={"timeout_s": round(max(timeout_s, 0.0), 3)},
            timeout=timeout_s + 30.0,
        )
        return JobOut.model_validate(response.json())

    def job_result(self, job_id: str) -> bytes:
        return self.call("GET", f"/api/v1/jobs/{job_id}/result").content

    def job_log_tail(self, job_id: str, max_bytes: int = LOG_TAIL_BYTES) -> bytes:
        """The last ``max_bytes`` of the latest attempt's log (read in the server's slices)."""
        tail = b""
        offset = 0
        while True:
            response = self.call("GET", f"/api/v1/jobs/{job_id}/logs", params={"offset": offset})
            data = response.content
            tail = (tail + data)[-max_bytes:]
            next_offset = int(response.headers.get("x-corridor-next-offset", offset + len(data)))
            if not data or next_offset <= offset:
                return tail
            offset = next_offset

    def sites(self) -> list[SiteOut]:
        return TypeAdapter(list[SiteOut]).validate_python(self.call("GET", "/api/v1/sites").json())

    def cancel_job(self, job_id: str) -> None:
        self.call("POST", f"/api/v1/jobs/{job_id}/cancel")


def b64(data: bytes) -> str:
    """``data`` as the base64 text finish entries carry."""
    return base64.b64encode(data).decode("ascii")


def cut(entries: Sequence[E], *, budget: int, max_entries: int = MAX_ENTRIES) -> list[list[E]]:
    """``entries`` cut into batches under ``budget`` bytes and ``max_entries`` entries; the
    entries of one job group (consecutive) stay in one batch, whatever their size."""
    units: list[list[E]] = []
    for entry in entries:
        group = entry.job_group if isinstance(entry, StepBegin) else None
        last = units[-1][-1] if units else None
        if group is not None and isinstance(last, StepBegin) and last.job_group == group:
            units[-1].append(entry)
        else:
            units.append([entry])
    batches: list[list[E]] = [[]]
    size = 0
    for unit in units:
        length = sum(size_of(e) for e in unit)
        over = size + length > budget or len(batches[-1]) + len(unit) > max_entries
        if batches[-1] and over:
            batches.append([])
            size = 0
        batches[-1].extend(unit)
        size += length
    return [b for b in batches if b]


def size_of(entry: StepBegin | StepFinish) -> int:
    """About how many bytes ``entry`` takes in a request body (its big fields dominate)."""
    if isinstance(entry, StepFinish):
        big = len(entry.output_b64 or "") + len(entry.logs_b64 or "")
        big += len(entry.traceback or "") + len(entry.error or "")
        return 600 + big + (size_of(entry.begin) if entry.begin is not None else 0)
    size = 400 + len(json.dumps(entry.inputs)) + len(entry.key)
    if entry.job is not None:
        size += 600 + len(entry.job.input_b64 or "")
    return size
