"""A discrete-event simulation of one queue in front of replicas, on a fake clock.

Requests arrive as a seeded Poisson process (open loop), or from ``clients`` that each send
again a random think time after their answer (closed loop, as a load generator does); a batch
of ``n`` rows takes ``a * n + b`` seconds on a replica. The policy under test is driven exactly
as the async batcher drives it: after every arrival, every finished batch, every dispatch and
when its timer runs out.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from corridor.serving.sansio.batching import Decision
from corridor.serving.spec import Batching


class Policy(Protocol):
    def decide(
        self, now_s: float, queued_rows: Sequence[int], oldest_enqueued_s: float, replicas_idle: int
    ) -> Decision: ...

    def observe(self, batch_rows: int, duration_s: float) -> None: ...


class FixedDelayPolicy:
    """Triton's dynamic batcher without preferred sizes: send when the batch is full or the
    oldest request has waited ``max_queue_delay``, whether or not a replica sat idle."""

    def __init__(self, batching: Batching) -> None:
        self.max_rows = batching.max_batch_size
        self.max_delay_s = batching.max_queue_delay_ms / 1000

    def decide(
        self, now_s: float, queued_rows: Sequence[int], oldest_enqueued_s: float, replicas_idle: int
    ) -> Decision:
        if not queued_rows or replicas_idle <= 0:
            return Decision()
        take, rows = 0, 0
        for n in queued_rows:
            if take and rows + n > self.max_rows:
                break
            take, rows = take + 1, rows + n
        full = take < len(queued_rows) or rows >= self.max_rows
        due_s = oldest_enqueued_s + self.max_delay_s
        if full or now_s >= due_s:
            return Decision(take=take, wait_s=0.0)
        return Decision(wait_s=due_s - now_s)

    def observe(self, batch_rows: int, duration_s: float) -> None:
        pass


@dataclass
class Outcome:
    latencies_s: list[float] = field(default_factory=list)
    batch_rows: list[int] = field(default_factory=list)
    shed: int = 0
    first_arrival_s: float = 0.0
    last_done_s: float = 0.0
    max_wait_with_idle_s: float = 0.0

    @property
    def throughput_per_s(self) -> float:
        return len(self.latencies_s) / (self.last_done_s - self.first_arrival_s)

    def percentile_s(self, q: float, warmup: int = 0) -> float:
        """The ``q`` quantile of latency, leaving out the first ``warmup`` answers."""
        ordered = sorted(self.latencies_s[warmup:])
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    @property
    def mean_s(self) -> float:
        return sum(self.latencies_s) / len(self.latencies_s)


def simulate(
    policy: Policy,
    *,
    rate_per_s: float = 0.0,
    requests: int,
    a_s: float,
    b_s: float,
    replicas: int = 1,
    rows: Sequence[int] = (1,),
    clients: int = 0,
    think_s: float = 0.0,
    seed: int = 7,
) -> Outcome:
    """Run ``requests`` arrivals through ``policy`` and report what each request saw.
    ``clients`` > 0: closed loop (``rate_per_s`` is then unused)."""
    rng = random.Random(seed)
    arrivals: list[tuple[float, int]] = []  # a heap of (time, rows)
    t = 0.0
    if clients:
        arrivals = sorted((rng.uniform(0, think_s), rng.choice(rows)) for _ in range(clients))
    else:
        for _ in range(requests):
            t += rng.expovariate(rate_per_s)
            arrivals.append((t, rng.choice(rows)))
    to_send = requests - len(arrivals)
    out = Outcome(first_arrival_s=arrivals[0][0])
    queue: deque[tuple[float, int]] = deque()  # (enqueued_s, rows)
    running: list[tuple[float, int, int, list[float]]] = []  # (done_s, id, rows, enqueued)
    idle = replicas
    timer_s = math.inf
    batch_id = 0
    now = 0.0
    while arrivals or queue or running:
        now = min(
            arrivals[0][0] if arrivals else math.inf,
            running[0][0] if running else math.inf,
            timer_s,
        )
        timer_s = math.inf
        while arrivals and arrivals[0][0] <= now:
            queue.append(heapq.heappop(arrivals))
        while running and running[0][0] <= now:
            done_s, _, batch_rows, enqueued = heapq.heappop(running)
            idle += 1
            policy.observe(batch_rows, a_s * batch_rows + b_s)
            out.latencies_s.extend(done_s - e for e in enqueued)
            out.last_done_s = done_s
            for _ in enqueued if clients else ():
                if to_send > 0:
                    to_send -= 1
                    heapq.heappush(arrivals, (done_s + rng.uniform(0, think_s), rng.choice(rows)))
        while True:
            oldest = queue[0][0] if queue else now
            d = policy.decide(now, [r for _, r in queue], oldest, idle)
            if d.shed:
                for _ in range(d.shed):
                    queue.popleft()
                    out.shed += 1
                    if clients and to_send > 0:
                        to_send -= 1
                        heapq.heappush(arrivals, (now + rng.uniform(0, think_s), rng.choice(rows)))
                continue
            if d.take:
                assert idle > 0
                taken = [queue.popleft() for _ in range(d.take)]
                out.max_wait_with_idle_s = max(out.max_wait_with_idle_s, now - taken[0][0])
                batch_rows = sum(r for _, r in taken)
                out.batch_rows.append(batch_rows)
                idle -= 1
                batch_id += 1
                heapq.heappush(
                    running,
                    (now + a_s * batch_rows + b_s, batch_id, batch_rows, [e for e, _ in taken]),
                )
                continue
            timer_s = now + d.wait_s if queue else math.inf
            break
    return out
