"""The async driver of the autoscale policy: one `Scaler` task per deployment.

Every `TICK_S` it feeds each version's `Autoscaler` with the requests in flight and queued in
that version's batcher, and applies the count the policy wants through the pool's
``scale_to``. A batcher that receives a request while its pool has no replica (scale to zero)
pokes the scaler, which ticks at once instead of at the next period, so a cold start costs the
replica's start-up and nothing more. Without autoscaling a pool keeps ``spec.replicas`` and no
task runs.

Invariant: only this task changes a version's replica count while the deployment is live; a
``scale_to`` that fails (a replica that cannot start) is logged and retried at the next tick,
and never stops the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from corridor.serving.batcher import Batcher
from corridor.serving.sansio.autoscale import Autoscaler
from corridor.serving.spec import Autoscaling

log = logging.getLogger("corridor.serving")

TICK_S = 0.5
# The load is averaged over this window (one burst starts no replica, one lull stops none).
LOOK_BACK_S = 10.0


class ScalablePool(Protocol):
    # The replicas it runs or starts, as last asked for.
    target: int

    async def scale_to(self, n: int) -> None: ...


@dataclass
class ScaledVersion:
    name: str  # "model/version", for the log
    pool: ScalablePool
    batcher: Batcher
    policy: Autoscaler


def initial_replicas(autoscaling: Autoscaling | None, replicas: int) -> int:
    """How many replicas a version starts with."""
    if autoscaling is None:
        return replicas
    return min(max(replicas, autoscaling.min_replicas), autoscaling.max_replicas)


class Scaler:
    """Drives the autoscale policy of one deployment's versions."""

    def __init__(
        self,
        deployment: str,
        autoscaling: Autoscaling,
        *,
        tick_s: float = TICK_S,
        look_back_s: float = LOOK_BACK_S,
    ) -> None:
        self.deployment = deployment
        self.autoscaling = autoscaling
        self.tick_s = tick_s
        self.look_back_s = look_back_s
        self.versions: list[ScaledVersion] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, name: str, pool: ScalablePool, batcher: Batcher) -> None:
        """Scale ``pool`` (fed by ``batcher``); the batcher pokes the scaler when cold."""
        self.versions.append(
            ScaledVersion(
                name, pool, batcher, Autoscaler(self.autoscaling, look_back_s=self.look_back_s)
            )
        )
        batcher.on_cold = self.poke

    def poke(self) -> None:
        """Tick now: a request is waiting for a replica."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"serving-scaler-{self.deployment}"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            await self.tick(self.versions, time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_s)

    async def tick(self, versions: Sequence[ScaledVersion], now_s: float) -> None:
        for v in versions:
            queued = v.batcher.queued
            v.policy.observe(now_s, float(v.batcher.in_flight_requests - queued), queued)
            current = v.pool.target
            desired = v.policy.desired(now_s, current)
            if desired == current:
                continue
            try:
                await v.pool.scale_to(desired)
            except Exception:
                log.exception(
                    "deployment %s: scaling %s from %d to %d replicas failed",
                    self.deployment,
                    v.name,
                    current,
                    desired,
                )
