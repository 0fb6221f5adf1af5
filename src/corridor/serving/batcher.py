"""The async driver of the batching policy: one `Batcher` per served model version.

Requests wait in a FIFO queue of ``(rows, inputs, future)``; one dispatcher task asks the pure
`BatchPolicy` when to send how many of them, concatenates their inputs along axis 0, hands the
batch to the version's replica pool (which picks the least-loaded replica; with several
replicas several batches are in flight) and splits the outputs back by each request's rows.

Invariants: every accepted request is answered exactly once (its result, or the batch's error);
a request whose caller went away (cancelled future) is dropped before it is batched; requests
leave the queue in arrival order.

Cost reasoning (this is the hot path): a request that finds the queue empty and a replica idle
asks the policy once and, when told to go, runs in the caller's own task, skipping the queue
and the dispatcher's wake-up (two task switches saved). Only the first request of a turn of the
event loop does so: the others that reach the batcher in the same turn (a burst, which is what
concurrent clients look like to one event loop) queue, and the dispatcher sends them as one
batch at the next turn. For a model that predicts inline (in-process, well under a
millisecond) this is the only way batching can happen at all, since nothing else runs while it
predicts; measured with the example MLP and 128 concurrent callers it doubles throughput over
sending each request alone. With batching off, or ``max_batch_size == 1``, `submit` is a direct
call to the pool. The queue is a deque; the per-batch work is one `np.concatenate` per input
and one slice per output per request.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from corridor.errors import Unavailable
from corridor.serving.replicas.base import ModelFailed
from corridor.serving.sansio.batching import BatchPolicy
from corridor.serving.spec import Batching
from corridor.serving.tensors import Batch

# How long a request that arrives while no replica is up waits for one (scale from zero, a
# restart) before it is answered 503.
COLD_START_TIMEOUT_S = 60.0


class BatchTarget(Protocol):
    """What the batcher sends batches to: a replica pool. Each replica that is up takes one
    batch at a time from the batcher; none up means the request waits for one."""

    # The replicas it runs or starts, as last asked for.
    target: int

    @property
    def replicas(self) -> Sequence[object]:
        """The replicas up now."""

    async def infer(self, inputs: Batch) -> Batch: ...

    async def wait_ready(self, timeout_s: float) -> None:
        """Return once a replica can answer; `Unavailable` after ``timeout_s``."""


class _Pending:
    __slots__ = ("enqueued_s", "future", "inputs", "rows")

    def __init__(self, rows: int, inputs: Batch, future: asyncio.Future[Batch], now: float) -> None:
        self.rows = rows
        self.inputs = inputs
        self.future = future
        self.enqueued_s = now


def rows_of(inputs: Batch) -> int:
    """The batch size of checked inputs (every input shares its first dimension)."""
    for array in inputs.values():
        return int(array.shape[0]) if array.ndim else 1
    return 0


def stack_key(inputs: Batch) -> tuple[tuple[tuple[int, ...], str], ...]:
    """What must agree for two requests' tensors to be concatenated along axis 0."""
    return tuple((array.shape[1:], array.dtype.str) for array in inputs.values())


def concatenate(parts: list[Batch]) -> Batch:
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts], axis=0) for name in parts[0]}


def split(outputs: Batch, rows: list[int]) -> list[Batch]:
    """Each request's rows of a batch's outputs; `ModelFailed` if an output does not have one
    row per input row (its rows could not be given back to the requests they belong to)."""
    if len(rows) == 1:
        return [outputs]
    total = sum(rows)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise ModelFailed(
                f"the model answered a batch of {total} rows with output {name!r} of shape "
                f"{list(array.shape)}: every output needs one row per input row"
            )
    answers: list[Batch] = []
    start = 0
    for n in rows:
        answers.append({name: array[start : start + n] for name, array in outputs.items()})
        start += n
    return answers


class Batcher:
    """Gathers one version's requests into batches for its pool, as `BatchPolicy` decides."""

    def __init__(
        self,
        pool: BatchTarget,
        batching: Batching,
        *,
        on_cold: Callable[[], None] | None = None,
        on_batch: Callable[[int], None] | None = None,
        cold_start_timeout_s: float = COLD_START_TIMEOUT_S,
    ) -> None:
        self.pool = pool
        self.batching = batching
        self.direct = not batching.enabled or batching.max_batch_size == 1
        self.policy = BatchPolicy(batching)
        # Called when a request finds no replica up (the scaler starts one at once).
        self.on_cold = on_cold
        # Called with the rows of every batch sent (the batch-size metric).
        self.on_batch = on_batch
        self.cold_start_timeout_s = cold_start_timeout_s
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self.in_flight_batches = 0
        # Requests accepted and not yet answered (queued or in a batch): the autoscaler's input.
        self.in_flight_requests = 0
        # Requests waiting for a replica to come up (none was up when they arrived).
        self.cold_waiting = 0
        self._waiter: asyncio.Future[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        # A request ran at once in this turn of the event loop (see `submit`).
        self._turn_taken = False
        # Rows per dispatched batch and batches sent, for metrics and tests.
        self.batches_sent = 0
        self.rows_sent = 0

    @property
    def queued(self) -> int:
        """Requests waiting: in the queue, or for a replica to come up."""
        return len(self._queue) + self.cold_waiting

    async def submit(self, inputs: Batch) -> Batch:
        """Answer ``inputs`` (already checked) through a batch; the pool's error if it fails."""
        self.in_flight_requests += 1
        try:
            capacity = len(self.pool.replicas)
            if capacity == 0:
                await self._wait_for_replica()
                capacity = len(self.pool.replicas)
            if self.direct:
                outputs = await self.pool.infer(inputs)
                if self.on_batch is not None:
                    self.on_batch(rows_of(inputs))
                return outputs
            rows = rows_of(inputs)
            now = time.monotonic()
            if not self._queue and self.in_flight_batches < capacity and not self._turn_taken:
                # A lone request runs at once, in its own task. Requests that reach the
                # batcher later in the same turn of the event loop queue instead, and go
                # together in one batch at the next turn: a burst is batched, and a request
                # that is alone never waits.
                idle = capacity - self.in_flight_batches
                if self.policy.decide(now, (rows,), now, idle).take:
                    self._turn_taken = True
                    asyncio.get_running_loop().call_soon(self._end_turn)
                    return await self._run_inline(rows, inputs)
            future: asyncio.Future[Batch] = asyncio.get_running_loop().create_future()
            self._queue.append(_Pending(rows, inputs, future, now))
            self._queued_rows += rows
            self._wake()
            return await future
        finally:
            self.in_flight_requests -= 1

    async def _wait_for_replica(self) -> None:
        if self.on_cold is None and self.pool.target == 0:
            # Nothing will start one: say so now rather than after the cold-start timeout.
            raise Unavailable(
                "this model version runs 0 replicas; scale the deployment up "
                "(corridor deployments scale NAME --replicas 1) or give it autoscaling"
            )
        self.cold_waiting += 1
        try:
            if self.on_cold is not None:
                self.on_cold()
            await self.pool.wait_ready(self.cold_start_timeout_s)
        finally:
            self.cold_waiting -= 1

    async def _run_inline(self, rows: int, inputs: Batch) -> Batch:
        self.in_flight_batches += 1
        started = time.monotonic()
        try:
            outputs = await self.pool.infer(inputs)
        finally:
            self.in_flight_batches -= 1
            if self._queue:
                self._wake()
        self._finished(rows, time.monotonic() - started)
        return outputs

    def _end_turn(self) -> None:
        self._turn_taken = False

    def _finished(self, rows: int, duration_s: float) -> None:
        self.policy.observe(rows, duration_s)
        self._count(rows)

    def _count(self, rows: int) -> None:
        self.batches_sent += 1
        self.rows_sent += rows
        if self.on_batch is not None:
            self.on_batch(rows)

    def _wake(self) -> None:
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            while self._queue and self._queue[0].future.done():  # callers that went away
                self._queued_rows -= self._queue.popleft().rows
            if not self._queue:
                break
            capacity = len(self.pool.replicas)
            if capacity == 0:
                await self._hold_for_replica()
                continue
            now = time.monotonic()
            idle = max(0, capacity - self.in_flight_batches)
            decision = self.policy.decide(
                now, [p.rows for p in self._queue], self._queue[0].enqueued_s, idle
            )
            if decision.shed:
                self._shed(decision.shed)
                continue
            if decision.take > 0 and idle > 0:
                taken = self._take(decision.take)
                taken = [p for p in taken if not p.future.done()]
                if not taken:
                    continue
                self.in_flight_batches += 1
                if idle == 1:
                    # The last free replica: nothing else can be sent until it answers, so
                    # run the batch here and save a task switch on the way.
                    await self._run_batch(taken)
                else:
                    self._start_batch(taken)
                continue
            # Wait for the policy's next look, a new request or a finished batch.
            self._waiter = waiter = loop.create_future()
            wait_s = decision.wait_s if decision.wait_s > 0 else 0.0005
            handle = loop.call_later(min(wait_s, 1.0), _release, waiter)
            try:
                await waiter
            finally:
                handle.cancel()
                self._waiter = None

    def _take(self, count: int) -> list[_Pending]:
        """The ``count`` oldest requests, or fewer: stop before the first whose tensors cannot
        be stacked with the oldest's (another size past the batch axis, another dtype), which
        then leads the next batch."""
        first = self._queue.popleft()
        taken = [first]
        key = stack_key(first.inputs)
        while len(taken) < count and self._queue:
            if stack_key(self._queue[0].inputs) != key:
                break
            taken.append(self._queue.popleft())
        self._queued_rows -= sum(p.rows for p in taken)
        return taken

    def _shed(self, count: int) -> None:
        budget_ms = self.batching.latency_budget_ms
        for _ in range(min(count, len(self._queue))):
            pending = self._queue.popleft()
            self._queued_rows -= pending.rows
            if not pending.future.done():
                pending.future.set_exception(
                    Unavailable(
                        f"the request waited its whole latency budget ({budget_ms:g} ms) for a "
                        "replica; the deployment is overloaded: retry later, or scale it up"
                    )
                )

    async def _hold_for_replica(self) -> None:
        try:
            await self._wait_for_replica()
        except Unavailable as exc:
            # Nobody came up in time: answer everything queued with the same clear error.
            while self._queue:
                pending = self._queue.popleft()
                if not pending.future.done():
                    pending.future.set_exception(Unavailable(exc.message))
            self._queued_rows = 0

    def _start_batch(self, taken: list[_Pending]) -> None:
        task = asyncio.get_running_loop().create_task(self._run_batch(taken))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _run_batch(self, taken: list[_Pending]) -> None:
        rows = [p.rows for p in taken]
        started = time.monotonic()
        try:
            outputs = await self.pool.infer(concatenate([p.inputs for p in taken]))
            answers = split(outputs, rows)
        except BaseException as exc:
            for p in taken:
                if not p.future.done():
                    p.future.set_exception(_copy_error(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        finally:
            self.in_flight_batches -= 1
            if self._queue:
                self._wake()
        total = sum(rows)
        self._finished(total, time.monotonic() - started)
        for p, answer in zip(taken, answers, strict=True):
            if not p.future.done():
                p.future.set_result(answer)

    async def close(self) -> None:
        """Answer everything queued and in flight. A request that still arrives (one that took
        the deployment from the plane just before a redeploy replaced it) is answered too, by
        the pool, for as long as the pool runs."""
        while self._queue or self._batches:
            self._wake()
            waits: set[asyncio.Future[Any]] = set(self._batches)
            if self._dispatcher is not None and not self._dispatcher.done():
                waits.add(self._dispatcher)
            if waits:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(0)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _copy_error(exc: BaseException) -> BaseException:
    # One exception object raised in several tasks would share (and grow) one traceback.
    if isinstance(exc, asyncio.CancelledError):
        return Unavailable("the batch was cancelled while the server stopped; retry the request")
    try:
        copy = type(exc)(*exc.args)
    except Exception:
        return exc
    copy.__cause__ = exc.__cause__
    return copy
