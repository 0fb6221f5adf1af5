"""Adaptive batching: when to send queued requests to a replica, and how many. No I/O, no clock.

Interface (the async driver keeps a FIFO of requests, each of one or more rows)::

    policy = BatchPolicy(spec.batching)
    while True:                       # run on every arrival, every finished batch, and timer
        d = policy.decide(now_s, [rows of each queued request, oldest first],
                          oldest_enqueued_s, replicas_idle)
        if d.shed:  fail the d.shed oldest requests (`Unavailable`: over the latency budget)
        elif d.take: send the d.take oldest requests as one batch to an idle replica
        else: sleep until the next arrival, a replica finishing, or d.wait_s, whichever is first
    policy.observe(batch_rows, duration_s)   # after every batch, to learn its latency

Invariants (``Batching``: ``max_batch_size`` rows, ``max_queue_delay_ms``,
``latency_budget_ms``):

- A batch is whole requests, oldest first (FIFO), whose rows sum to at most
  ``max_batch_size``; a request larger than that on its own is sent alone.
- Nothing is taken while no replica is idle (``take == 0``).
- With a replica idle, the oldest request never waits longer than ``max_queue_delay_ms``;
  a full batch (the next request would not fit) is sent at once.
- With ``latency_budget_ms``, a batch is sent early enough for its predicted latency to end
  inside the budget, and a request that has already waited the whole budget is shed rather
  than answered late: the caller has given up by then, and answering it would only make the
  requests behind it late too (under overload this keeps the fresh ones within budget).

How it waits, and why it beats a fixed delay (Triton's dynamic batcher waits for
``max_queue_delay`` even when the model is idle) and BentoML's dispatcher (which also models
latency as ``a * rows + b`` but needs a warm-up and a fixed wait cap): with a replica idle it
sends at once unless waiting is *predicted* to lower the mean latency. It learns the batch
latency ``L(n) = a*n + b`` online (exponentially weighted least squares) and the arrival rate
``lambda`` (rows/s, from how the queue grows between calls). Sending ``n`` rows now makes the
rows arriving next wait behind it for ``L(n)``; waiting ``w`` for ``lambda*w`` more rows delays
the ``n`` by ``w``. The sum of latencies changes by ``w * (n + lambda*w - lambda*(b - a*n))``,
so waiting pays off only while ``n / lambda < b - a*n`` (the next rows would come sooner than
the fixed cost saved) and the best wait is ``((b - a*n) - n/lambda) / 2``. With two or more
replicas idle the next rows need not wait for this batch, so it is sent at once. Untrained
(no batch observed yet) the model predicts 0 and the policy sends whenever a replica is idle,
which already batches under load: requests that arrive while every replica is busy go together.

Cost: ``decide`` looks at no more than ``max_batch_size`` queued requests and does O(1)
arithmetic besides; ``observe`` is O(1). Both run on the event loop, once per arrival or batch.
"""

from __future__ import annotations

import math
from itertools import islice
from collections.abc import Sequence
from dataclasses import dataclass

from corridor.serving.spec import Batching

_DECAY = 0.95  # weight of the past per observed batch in the latency fit (~20 batches)
_RATE_TAU_S = 0.5  # time constant of the arrival-rate estimate


@dataclass(frozen=True)
class Decision:
    """What the driver does now. ``shed``: fail that many oldest requests; ``take``: send that
    many oldest requests as one batch (after the shed ones); with neither, ``wait_s``: decide
    again after at most this many seconds (``inf``: only on an arrival or a finished batch)."""

    take: int = 0
    wait_s: float = math.inf
    shed: int = 0


class LatencyModel:
    """Batch latency as ``a * rows + b``, fitted online by exponentially weighted least squares."""

    def __init__(self, decay: float = _DECAY) -> None:
        self.decay = decay
        self._w = self._x = self._y = self._xx = self._xy = 0.0
        self.a = 0.0
        self.b = 0.0

    @property
    def trained(self) -> bool:
        return self._w > 0

    def observe(self, rows: int, duration_s: float) -> None:
        d, x, y = self.decay, float(max(rows, 1)), max(duration_s, 0.0)
        self._w = self._w * d + 1.0
        self._x = self._x * d + x
        self._y = self._y * d + y
        self._xx = self._xx * d + x * x
        self._xy = self._xy * d + x * y
        mean_x, mean_y = self._x / self._w, self._y / self._w
        var_x = self._xx / self._w - mean_x * mean_x
        if var_x > 1e-9 * max(1.0, mean_x * mean_x):
            a = (self._xy / self._w - mean_x * mean_y) / var_x
            b = mean_y - a * mean_x
        else:
            # One batch size seen so far: half fixed cost, half per row, until sizes vary.
            a, b = 0.5 * mean_y / mean_x, 0.5 * mean_y
        if a < 0:  # bigger batches cannot be faster; the noise says "flat"
            a, b = 0.0, mean_y
        elif b < 0:  # nor can there be a negative fixed cost
            a, b = mean_y / mean_x, 0.0
        self.a, self.b = a, b

    def predict_s(self, rows: float) -> float:
        return self.a * rows + self.b


class BatchPolicy:
    """Decides, for one model version's queue, when to send which requests. Keeps what it
    has learned (latency fit, arrival rate) between calls; one instance per queue."""

    def __init__(self, batching: Batching) -> None:
        self.batching = batching
        self.max_rows = batching.max_batch_size
        self.max_delay_s = batching.max_queue_delay_ms / 1000.0
        self.budget_s = (
            batching.latency_budget_ms / 1000.0 if batching.latency_budget_ms else None
        )
        self.latency = LatencyModel()
        # Arrival rate: exponentially decayed count of arrived requests.
        self._arrived = 0.0
        self._rows_per_request = 1.0
        self._last_s: float | None = None
        self._left_queued = 0  # requests left in the queue by the last decision
        # The planned send time for the current oldest request (keyed by its enqueue time).
        self._plan: tuple[float, float] | None = None

    @property
    def arrival_rate_rows_s(self) -> float:
        """The estimated arrival rate, in rows per second."""
        return self._arrived / _RATE_TAU_S * self._rows_per_request

    def observe(self, batch_rows: int, duration_s: float) -> None:
        """Learn from one finished batch: its rows and how long the replica took."""
        self.latency.observe(batch_rows, duration_s)

    def decide(
        self,
        now_s: float,
        queued_rows: Sequence[int],
        oldest_enqueued_s: float,
        replicas_idle: int,
    ) -> Decision:
        """What to do now with the queue (rows per queued request, oldest first)."""
        self._count_arrivals(now_s, len(queued_rows))
        decision = self._decide(now_s, queued_rows, oldest_enqueued_s, replicas_idle)
        self._left_queued = len(queued_rows) - decision.take - decision.shed
        return decision

    def _decide(
        self, now_s: float, queued_rows: Sequence[int], oldest_s: float, idle: int
    ) -> Decision:
        if not queued_rows:
            self._plan = None
            return Decision()
        waited_s = now_s - oldest_s
        budget_s = self.budget_s
        if budget_s is not None and waited_s >= budget_s:
            self._plan = None
            return Decision(shed=1, wait_s=0.0)
        if idle <= 0:
            # Nothing can be sent; look again when the oldest would run out of budget.
            return Decision(wait_s=budget_s - waited_s if budget_s is not None else math.inf)
        take, rows = self._prefix(queued_rows)
        if not self.batching.enabled:
            return self._send(1)
        if take < len(queued_rows) or rows >= self.max_rows or idle >= 2:
            return self._send(take)
        # The latest moment to send: the delay cap, and the budget minus the predicted latency.
        send_by_s = oldest_s + self.max_delay_s
        rate = self.arrival_rate_rows_s
        if budget_s is not None:
            expected = min(self.max_rows, rows + rate * max(0.0, send_by_s - now_s))
            send_by_s = min(send_by_s, oldest_s + budget_s - self.latency.predict_s(expected))
        plan = self._plan
        if plan is not None and plan[0] == oldest_s:
            send_by_s = min(send_by_s, plan[1])
        if now_s >= send_by_s or rate <= 0 or not self.latency.trained:
            return self._send(take)
        saved_s = self.latency.b - self.latency.a * rows
        wait_s = (saved_s - rows / rate) / 2.0
        if wait_s <= 0:
            return self._send(take)
        # No point waiting past the moment the batch would be full.
        wait_s = min(wait_s, (self.max_rows - rows) / rate, send_by_s - now_s)
        self._plan = (oldest_s, now_s + wait_s)
        return Decision(wait_s=wait_s)

    def _send(self, take: int) -> Decision:
        self._plan = None
        return Decision(take=take, wait_s=0.0)

    def _prefix(self, queued_rows: Sequence[int]) -> tuple[int, int]:
        """How many oldest requests fit in one batch, and their rows (the first always goes)."""
        limit = self.max_rows
        rows = max(0, queued_rows[0])
        take = 1
        for n in islice(queued_rows, 1, limit):
            if rows + n > limit:
                break
            rows += max(0, n)
            take += 1
        # Rows per request, for the arrival rate in rows (a cheap running average).
        self._rows_per_request += 0.1 * (rows / take - self._rows_per_request)
        return take, rows

    def _count_arrivals(self, now_s: float, queued: int) -> None:
        arrived = max(0, queued - self._left_queued)
        if self._last_s is not None and now_s > self._last_s:
            self._arrived *= math.exp(-(now_s - self._last_s) / _RATE_TAU_S)
        if self._last_s is None or now_s > self._last_s:
            self._last_s = now_s
        self._arrived += arrived
