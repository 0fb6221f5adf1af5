"""A training job's calls to its own attempt's worker routes: metrics and checkpoints.

The job runs with the worker's ``CORRIDOR_URL`` and job token in its environment; the token
opens only this attempt's routes (``run-metrics`` for the run the job is linked to,
``checkpoint`` for this job's checkpoints). Checkpoints are encoded and uploaded in a thread
of their own, one at a time, so training goes on while one is stored (a model of a million
parameters with Adam is a 12 MB upload). Metrics are best effort: a point the server cannot
take is dropped after a warning, never a reason to stop training. A checkpoint write that the
server refuses as fenced means a newer attempt has replaced this one, so training stops.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

from corridor.compute.worker_link import (
    NETWORK_ERRORS,
    AttemptAddress,
    Fenced,
    LinkError,
    WorkerLink,
)

MAX_POINTS = 1000
# Points go out at most this often: a request per logged step would slow a fast model.
FLUSH_S = 1.0


class AttemptReplaced(Exception):
    """The server fenced this attempt off: a newer one runs the job."""


class JobLink:
    """Metrics and checkpoints of the attempt this process runs, or nothing outside a job."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.link: WorkerLink | None = None
        self.attempt = int(env.get("CORRIDOR_JOB_ATTEMPT") or 0)
        if all(env.get(k) for k in ("CORRIDOR_URL", "CORRIDOR_JOB_ID", "CORRIDOR_JOB_TOKEN")):
            address = AttemptAddress(
                env["CORRIDOR_URL"], env["CORRIDOR_JOB_ID"], self.attempt, env["CORRIDOR_JOB_TOKEN"]
            )
            self.link = WorkerLink(address)
        self.pending: list[dict[str, object]] = []
        self.metrics_off = False
        self.last_flush = 0.0
        # One checkpoint upload in flight at a time, off the training thread.
        self._uploads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._upload: Future[bool] | None = None

    def metric(self, key: str, value: float, step: int) -> None:
        """Queue one point for the linked run (sent by ``flush``)."""
        if self.link is None or self.metrics_off:
            return
        point = {"key": key, "value": value, "step": step, "timestamp_ms": int(time.time() * 1000)}
        self.pending.append(point)

    def flush(self, *, force: bool = False) -> None:
        """Send the queued points, at most once every ``FLUSH_S`` unless ``force``; a network
        error keeps them for the next flush."""
        if self.link is None or not self.pending:
            return
        now = time.monotonic()
        if not force and now - self.last_flush < FLUSH_S:
            return
        self.last_flush = now
        points, self.pending = self.pending[:MAX_POINTS], self.pending[MAX_POINTS:]
        try:
            self.link.post_json("run-metrics", {"metrics": points})
        except NETWORK_ERRORS:
            self.pending = (points + self.pending)[-10 * MAX_POINTS :]
        except LinkError as exc:
            # A job with no linked run, or one already ended: train on, log no more.
            print(f"corridor.training: metrics are not logged: {exc}", file=sys.stderr)
            self.metrics_off = True
            self.pending = []

    def load_checkpoint(self) -> bytes | None:
        """The job's newest checkpoint from any attempt, or None (first attempt, none yet)."""
        if self.link is None or self.attempt <= 1:
            return None
        try:
            return self.link.request("GET", "checkpoint")
        except Fenced as exc:
            raise AttemptReplaced(str(exc)) from None
        except LinkError as exc:
            if exc.status == 404:
                return None
            raise

    def save_checkpoint_later(self, encode: Callable[[], bytes], step: int) -> None:
        """Encode and store a checkpoint in the background, after the previous one is stored
        (its failure, such as AttemptReplaced, is raised here)."""
        if self.link is None:
            return
        self.wait_for_checkpoint()
        self._upload = self._uploads.submit(lambda: self.save_checkpoint(encode(), step))

    def wait_for_checkpoint(self) -> None:
        """Block until the checkpoint being stored is stored; raise what storing it raised."""
        upload, self._upload = self._upload, None
        if upload is not None:
            upload.result()

    def save_checkpoint(self, data: bytes, step: int) -> bool:
        """Store a checkpoint at ``step``; False outside a job. AttemptReplaced if fenced."""
        if self.link is None:
            return False
        try:
            self.link.request(
                "PUT",
                "checkpoint",
                body=data,
                content_type="application/octet-stream",
                query=f"step={step}",
            )
        except Fenced as exc:
            raise AttemptReplaced(str(exc)) from None
        return True
