"""Shadow traffic: mirror a share of a deployment's requests to another version, off the answer's
path, and record both answers side by side for comparison.

Invariant: nothing the shadow does reaches the client. The mirror runs as its own task after
the request was routed; it never delays the primary answer (it waits for it only to compare),
and its failures are counted, never raised. Both answers are summarised (per output: shape,
mean, and for 2-D float outputs the arg-max per row) rather than kept whole, and only the last
`KEEP` comparisons are held, so memory stays bounded whatever the traffic.

Cost reasoning: the summary is a few vectorised NumPy reductions per output, done in the
mirror's task; the client's request pays only for creating that task.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from corridor.serving.tensors import Batch

KEEP = 256
# Mirrors in flight at most: a shadow slower than the traffic it gets skips requests (counted)
# rather than piling up tasks and memory without bound.
MAX_IN_FLIGHT = 256


@dataclass(frozen=True)
class Comparison:
    """One mirrored request: both answers' summaries, or the shadow's error."""

    at_s: float
    primary_version: str
    shadow_version: str
    primary: dict[str, Any] | None
    shadow: dict[str, Any] | None
    error: str | None = None
    # Per output: the mean absolute difference, and for class scores the share of rows whose
    # arg-max agrees.
    difference: dict[str, dict[str, float]] = field(default_factory=dict)


def summarise(outputs: Batch) -> dict[str, Any]:
    """A small, JSON-ready summary of a batch of outputs."""
    summary: dict[str, Any] = {}
    for name, array in outputs.items():
        entry: dict[str, Any] = {"shape": list(array.shape), "dtype": str(array.dtype)}
        if array.dtype.kind in "fiub" and array.size:
            entry["mean"] = float(np.mean(array))
            if array.ndim == 2 and array.dtype.kind == "f":
                entry["argmax"] = np.argmax(array, axis=1).tolist()
        summary[name] = entry
    return summary


def compare(primary: Batch, shadow: Batch) -> dict[str, dict[str, float]]:
    """Per output both answers hold with the same shape: how far apart they are."""
    difference: dict[str, dict[str, float]] = {}
    for name, a in primary.items():
        b = shadow.get(name)
        if b is None or a.shape != b.shape or a.dtype.kind not in "fiub" or not a.size:
            continue
        entry = {"mean_abs_difference": float(np.mean(np.abs(a.astype(np.float64) - b)))}
        if a.ndim == 2 and a.dtype.kind == "f":
            entry["argmax_agreement"] = float(np.mean(np.argmax(a, 1) == np.argmax(b, 1)))
        difference[name] = entry
    return difference


class ShadowRecorder:
    """The comparisons of one deployment's shadow traffic, and its counters."""

    def __init__(self, keep: int = KEEP, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.comparisons: deque[Comparison] = deque(maxlen=keep)
        self.max_in_flight = max_in_flight
        self.mirrored = 0
        self.failed = 0
        self.skipped = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def mirror(
        self,
        primary_version: str,
        shadow_version: str,
        primary: asyncio.Future[Batch],
        ask_shadow: Callable[[], Awaitable[Batch]],
    ) -> bool:
        """Start the shadow request as its own task; ``primary`` resolves to the client's
        answer (or fails, in which case only the shadow's side is recorded). False: skipped,
        as `MAX_IN_FLIGHT` mirrors are running already (``primary`` is not awaited then)."""
        if len(self._tasks) >= self.max_in_flight:
            self.skipped += 1
            return False
        task = asyncio.get_running_loop().create_task(
            self._run(primary_version, shadow_version, primary, ask_shadow)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(
        self,
        primary_version: str,
        shadow_version: str,
        primary: asyncio.Future[Batch],
        ask_shadow: Callable[[], Awaitable[Batch]],
    ) -> None:
        self.mirrored += 1
        error: str | None = None
        shadow_answer: Batch | None = None
        try:
            shadow_answer = await ask_shadow()
        except Exception as exc:  # the shadow's failure is recorded, never raised
            self.failed += 1
            error = f"{type(exc).__name__}: {exc}"
        try:
            primary_answer: Batch | None = await primary
        except BaseException:  # the client got that error already
            primary_answer = None
        self.comparisons.append(
            Comparison(
                at_s=time.time(),
                primary_version=primary_version,
                shadow_version=shadow_version,
                primary=summarise(primary_answer) if primary_answer is not None else None,
                shadow=summarise(shadow_answer) if shadow_answer is not None else None,
                error=error,
                difference=(
                    compare(primary_answer, shadow_answer)
                    if primary_answer is not None and shadow_answer is not None
                    else {}
                ),
            )
        )

    async def drain(self) -> None:
        """Wait for the mirrors in flight (on shutdown, and in tests)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def report(self) -> dict[str, Any]:
        """Counters and the recent comparisons, JSON-ready."""
        agreements = [
            d["argmax_agreement"]
            for c in self.comparisons
            for d in c.difference.values()
            if "argmax_agreement" in d
        ]
        return {
            "mirrored": self.mirrored,
            "failed": self.failed,
            "skipped": self.skipped,
            "argmax_agreement": (sum(agreements) / len(agreements)) if agreements else None,
            "recent": [c.__dict__ for c in self.comparisons],
        }
