"""``JobFuture``: a submitted job as a future; ``JobFailed``: how its failure reaches the caller.

Waiting uses the server's long poll (``GET /jobs/{id}/wait``), which answers as soon as the job
ends, so a caller learns of the end without polling in a loop of its own; the result is fetched
once and decoded with the payload codec, never unpickled.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from corridor.compute.sansio import payload
from corridor.compute.sansio.states import TERMINAL, JobState
from corridor.compute.schemas import JobOut
from corridor.errors import CorridorError

if TYPE_CHECKING:
    from corridor.client.compute import ComputeClient

_LOG_TAIL_LINES = 30


class JobFailed(CorridorError):
    """A job (or one item of a map) ended without a result: failed or cancelled.

    ``remote_traceback`` is the worker's traceback (of the item, for a map) or the tail of the
    job's logs; ``index`` is the item's position in the map, or None for a whole job.
    """

    code = "job_failed"

    def __init__(
        self,
        job: JobOut,
        *,
        error: str | None = None,
        remote_traceback: str = "",
        index: int | None = None,
    ) -> None:
        self.job = job
        self.job_id = job.id
        self.state = job.state
        self.error = error if error is not None else (job.error or f"the job {job.state}")
        self.remote_traceback = remote_traceback
        self.index = index
        where = f"job {job.id}" if index is None else f"item {index} of the map (job {job.id})"
        verb = "was cancelled" if job.state == JobState.CANCELLED else "failed"
        message = f"{where} {verb}: {self.error}"
        if remote_traceback.strip():
            message += f"\n\nRemote traceback:\n{remote_traceback.rstrip()}"
        super().__init__(message)


class JobFuture:
    """A submitted job: its id, its state, and its result once it has one."""

    def __init__(self, compute: ComputeClient, job: JobOut) -> None:
        self._compute = compute
        self.job = job
        self._result: payload.ItemOutcome | None = None

    def __repr__(self) -> str:
        return f"JobFuture(id={self.id!r}, state={self.job.state!r})"

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def state(self) -> str:
        """The job's state now (asked of the server unless the job has ended)."""
        if self.job.state not in TERMINAL:
            self.job = self._compute.job(self.id)
        return self.job.state

    def done(self) -> bool:
        """Whether the job has ended (succeeded, failed or cancelled)."""
        return self.state in TERMINAL

    def wait(self, timeout: float | None = None) -> JobOut:
        """The job once it has ended, or as it is when ``timeout`` seconds have passed."""
        if self.job.state not in TERMINAL:
            self.job = self._compute.wait(self.id, timeout_s=timeout)
        return self.job

    def result(self, timeout: float | None = None) -> object:
        """The function's return value; JobFailed if it failed or was cancelled.

        TimeoutError if the job has not ended within ``timeout`` seconds (None: wait for ever).
        A command job's result is None: its output is in its logs.
        """
        ok, value = self._outcome(timeout)
        if not ok:
            assert isinstance(value, JobFailed)
            raise value
        return value

    def exception(self, timeout: float | None = None) -> JobFailed | None:
        """The job's failure, or None if it succeeded (waits like ``result``)."""
        ok, value = self._outcome(timeout)
        if ok:
            return None
        assert isinstance(value, JobFailed)
        return value

    def cancel(self) -> JobOut:
        """Cancel the job: at once if it has not started, else its worker kills its processes."""
        self.job = self._compute.cancel(self.id)
        return self.job

    def logs(self, attempt: int | None = None) -> bytes:
        """What the job wrote to stdout and stderr so far (the latest attempt by default)."""
        return self._compute.logs(self.id, attempt=attempt).data

    def _outcome(self, timeout: float | None) -> payload.ItemOutcome:
        if self._result is None:
            job = self.wait(timeout)
            if job.state not in TERMINAL:
                raise TimeoutError(f"job {self.id} is still {job.state} after {timeout} s")
            if job.state == JobState.SUCCEEDED:
                data = self._compute.result_bytes(self.id) if job.has_result else None
                self._result = (True, payload.decode(data) if data is not None else None)
            else:
                self._result = (False, self._failure(job))
        return self._result

    def _failure(self, job: JobOut) -> JobFailed:
        tail = ""
        if job.state == JobState.FAILED and job.attempts > 0:
            text = self._compute.logs(self.id).data.decode("utf-8", errors="replace")
            tail = "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])
        return JobFailed(job, remote_traceback=tail)


def wait_deadline(timeout_s: float | None) -> float | None:
    """The monotonic time a wait of ``timeout_s`` ends (None: never)."""
    return None if timeout_s is None else time.monotonic() + max(0.0, timeout_s)
