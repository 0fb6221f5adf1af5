"""The model in the gateway's own process: no copy, no hop, no serialisation.

This is the only placement that keeps a single request within half a millisecond of a bare
endpoint, so small models run here. The package is loaded off the event loop
(``asyncio.to_thread``); then ``predict`` runs in one of two ways, chosen by measuring it:

- **inline**, on the event loop itself, when a warm predict of a batch of ``TIMING_ROWS`` rows
  took under ``INLINE_BELOW_S`` (1 ms). Handing such a call to a thread costs more than the call
  (a thread switch and a future: tens of microseconds, and the GIL is taken back and forth), and
  the event loop is blocked for less than a millisecond at a time.
- **in a dedicated single-thread executor** otherwise, so the event loop keeps parsing and
  answering other requests while the model computes (torch and ONNX Runtime release the GIL in
  their kernels). One thread per replica: batches of one replica run one at a time, in order,
  which is what the batcher in front of it expects; more parallelism is more replicas.

The rule is checked as it serves: an inline replica whose recent batches cost more than
``DEMOTE_ABOVE_S`` on average (larger batches than measured, slower inputs) moves to its
executor for good. The average is exponential (weight 0.05) over costs clipped at twice the
bound, so it takes a run of slow batches, not one stall of a busy machine, to move it. A model that
cannot be timed (its signature leaves the sample batch ambiguous and predict refuses it) starts
in the executor.

Costs are CPU seconds of the calling thread (``time.thread_time``), not wall time: on a busy
machine a predict that was preempted took longer by the clock without costing the loop more,
and wall time would move every replica of a shared machine to a thread for good.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from corridor.serving.replicas.base import ReplicaCrashed, ReplicaSpec
from corridor.serving.replicas.loading import (
    device_of,
    load_model,
    predict_checked,
    sample_batch,
)
from corridor.serving.runtimes.base import ModelKind, ServedModel
from corridor.serving.tensors import Batch, ModelSignature

INLINE_BELOW_S = 0.001
DEMOTE_ABOVE_S = 0.002
TIMING_ROWS = 8
_EWMA_WEIGHT = 0.05
# Loads in this process take turns: a torch package's loader imports the model's code by
# moving entries of sys.path and sys.modules, which two loads at once would trample.
_LOADING = threading.Lock()


def _load(spec: ReplicaSpec, public_keys: list[bytes]) -> ServedModel:
    device = device_of(spec.resources)
    with _LOADING:
        return load_model(spec.package_path, spec.manifest_json, public_keys, device=device)


def measure_predict_s(model: ServedModel, what: str) -> float | None:
    """Seconds of a warm predict of a `TIMING_ROWS`-row batch (the second of two calls; the
    first pays one-time costs); None if the model refuses the sample batch."""
    try:
        batch = sample_batch(model.signature, TIMING_ROWS)
        predict_checked(model, batch, what)
        began = time.thread_time()
        predict_checked(model, batch, what)
        return time.thread_time() - began
    except Exception:  # a sample the model cannot take: no measurement, not a failed start
        return None


class InProcessReplica:
    """One loaded copy of a model version in this process."""

    def __init__(self, spec: ReplicaSpec, public_keys: Iterable[bytes], *, name: str) -> None:
        self.name = name
        self.spec = spec
        self.outstanding = 0
        self.signature = ModelSignature(inputs=(), outputs=())
        self.kind: ModelKind = "tensors"
        self.inline = False
        self.measured_s: float | None = None
        self._public_keys = list(public_keys)
        self._model: ServedModel | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._cost_s = 0.0

    async def start(self) -> None:
        model = await asyncio.to_thread(_load, self.spec, self._public_keys)
        self.measured_s = await asyncio.to_thread(measure_predict_s, model, self.spec.version_key)
        self.inline = self.measured_s is not None and self.measured_s < INLINE_BELOW_S
        self._cost_s = self.measured_s or 0.0
        if not self.inline:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"replica-{self.name}")
        self.signature = model.signature
        self.kind = model.kind
        self._model = model

    async def infer(self, inputs: Batch) -> Batch:
        model = self._model
        if model is None:
            # Not answered, so safe to retry elsewhere: the pool does.
            raise ReplicaCrashed(f"replica {self.name} is not started (or was stopped)")
        self.outstanding += 1
        try:
            if self._executor is not None:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(
                    self._executor, predict_checked, model, inputs, self.spec.version_key
                )
            began = time.thread_time()
            outputs = predict_checked(model, inputs, self.spec.version_key)
            self._observe(time.thread_time() - began)
            return outputs
        finally:
            self.outstanding -= 1

    def _observe(self, cost_s: float) -> None:
        self._cost_s += _EWMA_WEIGHT * (min(cost_s, 2 * DEMOTE_ABOVE_S) - self._cost_s)
        if self._cost_s > DEMOTE_ABOVE_S:
            self.inline = False
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"replica-{self.name}")

    async def healthy(self) -> bool:
        return self._model is not None

    async def stop(self) -> None:
        self._model = None
        executor, self._executor = self._executor, None
        if executor is not None:
            # Batches already handed to the thread finish; nothing new is taken.
            await asyncio.to_thread(executor.shutdown, wait=True)
