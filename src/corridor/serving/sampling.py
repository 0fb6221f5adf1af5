"""Sampled requests and responses of a deployment, PII-masked, written as dataset versions.

The live deployment calls `RequestSampler.offer` on every answered request. That call is on the
inference hot path, so it does O(1) work and never blocks: one random draw and, for the sampled
few, one append to a bounded buffer of the request's arrays (no formatting; only an array that
is a view into a whole batch's answer is copied, so that a kept row does not keep the batch
alive). A full buffer drops its oldest entry and counts the drop: when the flusher falls
behind, sampling loses rows, never the request its latency.

Everything else happens off the hot path, in `run_flusher` (an async task the serving
controller starts per deployment that samples): every ``flush_interval_s`` seconds, or sooner
once ``flush_rows`` requests wait, the buffer is swapped out and, in a worker thread, turned
into one table (`corridor.serving.sample_table`), its text columns masked span by span with
the data slice's PII recognizers, and stored through the data slice as the next version of the
sampling dataset. A write that fails is retried with the next flush, within the buffer's bound.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from corridor.serving.sample_table import rows_of, sample_frame
from corridor.serving.tensors import Batch

if TYPE_CHECKING:
    from corridor.data.versions import Stored
    from corridor.runtime import Runtime

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 10_000
DEFAULT_FLUSH_ROWS = 1_000
DEFAULT_FLUSH_INTERVAL_S = 30.0
SAMPLES_SUFFIX = "-samples"
_POLL_S = 0.5


def default_dataset(deployment: str) -> str:
    """The sampling dataset of a deployment that names none: ``<deployment>-samples``."""
    return deployment[: 64 - len(SAMPLES_SUFFIX)] + SAMPLES_SUFFIX


@dataclass(frozen=True)
class Sampled:
    """One sampled request: when it was answered, by which version, what went in and out."""

    at: float  # seconds since the epoch
    version: str
    inputs: Batch
    outputs: Batch


class RequestSampler:
    """Keep ``rate`` (0-1) of a deployment's requests for the flusher, at most ``capacity``.

    ``project`` is the deployment's project id; the dataset lives there. ``kind`` is the
    model's ("tensors" or "embeddings"), which decides how outputs are summarised.
    """

    def __init__(
        self,
        rate: float,
        dataset: str | None,
        project: str,
        *,
        deployment: str,
        kind: str = "tensors",
        capacity: int = DEFAULT_CAPACITY,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        draw: Callable[[], float] | None = None,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("the sampling rate is a fraction between 0 and 1")
        if capacity < 1 or flush_rows < 1:
            raise ValueError("capacity and flush_rows must be at least 1")
        self.rate = rate
        self.dataset = dataset or default_dataset(deployment)
        self.project = project
        self.deployment = deployment
        self.kind = kind
        self.capacity = capacity
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self._draw = draw or random.random
        self._buffer: deque[Sampled] = deque(maxlen=capacity)
        self.offered = 0
        self.sampled = 0
        self.dropped = 0  # sampled, then pushed out of a full buffer before a flush took it
        self.written_rows = 0
        self.failed_flushes = 0
        self.versions_written = 0

    def offer(self, inputs: Batch, outputs: Batch, now: float, version: str | int = "") -> bool:
        """Keep this request with probability ``rate``; True if it was kept. O(1), no I/O."""
        self.offered += 1
        if self.rate <= 0.0 or self._draw() >= self.rate:
            return False
        if len(self._buffer) == self.capacity:
            self.dropped += 1
        self._buffer.append(Sampled(now, str(version), _owned(inputs), _owned(outputs)))
        self.sampled += 1
        return True

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def take(self) -> list[Sampled]:
        """Everything buffered, oldest first; the buffer starts empty again."""
        taken = list(self._buffer)
        self._buffer.clear()
        return taken

    def put_back(self, entries: list[Sampled]) -> None:
        """Return entries a failed flush took, ahead of newer ones, within the bound."""
        newer = list(self._buffer)
        self._buffer.clear()
        for entry in [*entries, *newer]:
            if len(self._buffer) == self.capacity:
                self.dropped += 1
            self._buffer.append(entry)

    def stats(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "dataset": self.dataset,
            "offered": self.offered,
            "sampled": self.sampled,
            "pending": self.pending,
            "dropped": self.dropped,
            "written_rows": self.written_rows,
            "versions_written": self.versions_written,
            "failed_flushes": self.failed_flushes,
        }


def _owned(batch: Batch) -> Batch:
    """``batch`` with any view (a request's rows of a whole batch's answer) copied: a kept view
    would keep the whole batch's array alive in the buffer. A request's own rows are small."""
    if all(a.base is None for a in batch.values()):
        return batch
    return {name: a.copy() if a.base is not None else a for name, a in batch.items()}


def write_samples(runtime: Runtime, sampler: RequestSampler, entries: list[Sampled]) -> Stored:
    """Store ``entries`` as the next version of the sampler's dataset (blocking: run it in a
    thread). Text is PII-masked before anything is written."""
    from corridor.data.consumption import workspace
    from corridor.data.convert import finish
    from corridor.data.limits import DataLimits
    from corridor.data.schemas import VersionMeta
    from corridor.data.versions import NewVersion, store_version
    from corridor.security import projects
    from corridor.security.policy import Principal

    table = sample_frame(entries, deployment=sampler.deployment, kind=sampler.kind)
    with runtime.db.read() as session:
        project = projects.get_by_id(session, sampler.project)
    by = Principal(user_id=None, name=f"deployment:{sampler.deployment}", is_admin=False)
    # A data workspace: removed in every case, and the staging sweep knows its folders.
    with workspace(DataLimits.from_settings(runtime.settings)) as space:
        path = space.file("samples.parquet")
        table.frame.write_parquet(path, compression="zstd", statistics=True)
        return store_version(
            runtime.db,
            runtime.blobs,
            project,
            sampler.dataset,
            NewVersion(
                finish(path),
                recipe={
                    "kind": "serving-samples",
                    "deployment": sampler.deployment,
                    "rate": sampler.rate,
                    "masking": "personal data in text replaced span by span",
                    "inputs": table.inputs,
                    "outputs": table.outputs,
                },
                masked=True,
            ),
            VersionMeta(
                description=f"Sampled requests and responses of deployment {sampler.deployment}"
            ),
            by=by,
        )


async def flush(runtime: Runtime, sampler: RequestSampler) -> int:
    """Write what is buffered now as one version; the number of requests written."""
    entries = sampler.take()
    if not entries:
        return 0
    try:
        await asyncio.to_thread(write_samples, runtime, sampler, entries)
    except Exception:
        sampler.failed_flushes += 1
        sampler.put_back(entries)
        log.exception("writing the samples of deployment %s failed", sampler.deployment)
        return 0
    sampler.written_rows += sum(rows_of(e.inputs) for e in entries)
    sampler.versions_written += 1
    return len(entries)


async def run_flusher(runtime: Runtime, sampler: RequestSampler) -> None:
    """Flush every ``flush_interval_s`` seconds, or once ``flush_rows`` requests wait, until
    cancelled; a last flush on cancellation writes what is left."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    try:
        while True:
            await asyncio.sleep(_POLL_S)
            due = loop.time() - last >= sampler.flush_interval_s
            if due or sampler.pending >= sampler.flush_rows:
                await flush(runtime, sampler)
                last = loop.time()
    except asyncio.CancelledError:
        await asyncio.shield(flush(runtime, sampler))
        raise
