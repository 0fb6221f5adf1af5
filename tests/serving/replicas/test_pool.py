"""The pool's choices, retries, scaling and waiting, over replicas whose answers a test holds.

A `HeldReplica` answers a batch only when its gate opens, so a test can leave batches
outstanding where it wants; "crashing" one makes its held batches raise `ReplicaCrashed`, as a
dead process's do. The real crash of a worker process is in ``test_process.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from corridor.errors import Unavailable
from corridor.serving.replicas.base import ReplicaCrashed, ReplicaSpec
from corridor.serving.replicas.pool import ReplicaPool
from corridor.serving.runtimes.base import ModelKind
from corridor.serving.tensors import Batch, ModelSignature
from tests.serving.replicas.conftest import Run

SPEC = ReplicaSpec(version_key="m/1", package_path=Path("unused"), manifest_json=b"{}")
BATCH: Batch = {"x": np.zeros((1, 2), dtype=np.float32)}


class HeldReplica:
    def __init__(self, spec: ReplicaSpec, public_keys: list[bytes], name: str) -> None:
        self.name = name
        self.outstanding = 0
        self.signature = ModelSignature(inputs=(), outputs=())
        self.kind: ModelKind = "tensors"
        self.alive = True
        self.stopped = False
        self.gate = asyncio.Event()

    async def start(self) -> None:
        self.gate.set()

    async def infer(self, inputs: Batch) -> Batch:
        self.outstanding += 1
        try:
            await self.gate.wait()
            if not self.alive:
                raise ReplicaCrashed(f"{self.name} crashed")
            return {"who": np.array([self.name.encode()], dtype=object)}
        finally:
            self.outstanding -= 1

    async def healthy(self) -> bool:
        return self.alive

    async def stop(self) -> None:
        self.stopped = True
        self.gate.set()

    def crash(self) -> None:
        self.alive = False
        self.gate.set()


def _pool(replicas: int, **options: Any) -> ReplicaPool:
    return ReplicaPool(SPEC, [], replicas=replicas, factory=HeldReplica, **options)


def _held(pool: ReplicaPool) -> list[HeldReplica]:
    return [r for r in pool.replicas if isinstance(r, HeldReplica)]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_pool_sends_the_next_batch_to_the_least_loaded_replica(run: Run[Any]) -> None:
    async def scenario() -> None:
        pool = _pool(3)
        await pool.start()
        try:
            replicas = _held(pool)
            for replica in replicas:
                replica.gate.clear()
            held = [asyncio.create_task(pool.infer(BATCH)) for _ in range(3)]
            await _settle()
            assert [r.outstanding for r in replicas] == [1, 1, 1]
            replicas[1].gate.set()
            await asyncio.sleep(0.01)
            assert [r.outstanding for r in replicas] == [1, 0, 1]
            answer = await pool.infer(BATCH)
            assert answer["who"][0] == replicas[1].name.encode()
            for replica in replicas:
                replica.gate.set()
            await asyncio.gather(*held)
        finally:
            await pool.stop()

    run(scenario())


def test_a_batch_whose_replica_crashed_is_answered_by_another_and_the_replica_replaced(
    run: Run[Any],
) -> None:
    async def scenario() -> None:
        pool = _pool(2, health_interval_s=30.0)
        await pool.start()
        try:
            first, second = _held(pool)
            first.gate.clear()
            second.gate.clear()
            batches = [asyncio.create_task(pool.infer(BATCH)) for _ in range(4)]
            await _settle()
            assert (first.outstanding, second.outstanding) == (2, 2)
            first.crash()
            await _settle()
            assert first not in pool.replicas
            second.gate.set()
            answers = await asyncio.gather(*batches)
            assert {a["who"][0] for a in answers} == {second.name.encode()}
            assert pool.restarts == 1
            assert pool.retried == 2
            await pool.wait_ready(5)
            for _ in range(100):
                if pool.counts()["up"] == 2:
                    break
                await asyncio.sleep(0.01)
            assert pool.counts()["up"] == 2
            assert first.stopped
        finally:
            await pool.stop()

    run(scenario())


class PoisonedReplica(HeldReplica):
    """Dies with every batch it is given."""

    async def start(self) -> None:
        self.alive = False
        self.gate.set()


def test_a_batch_that_crashes_every_replica_is_sent_at_most_max_attempts_times(
    run: Run[Any],
) -> None:
    async def scenario() -> None:
        pool = ReplicaPool(SPEC, [], replicas=1, factory=PoisonedReplica, max_attempts=2)
        await pool.start()
        try:
            with pytest.raises(ReplicaCrashed, match="sent to 2 replicas"):
                await pool.infer(BATCH)
            assert pool.restarts == 2
        finally:
            await pool.stop()

    run(scenario())


def test_a_pool_scaled_to_zero_holds_a_batch_until_a_replica_is_up(run: Run[Any]) -> None:
    async def scenario() -> None:
        pool = _pool(0)
        starts: list[asyncio.Task[None]] = []
        pool.on_starved = lambda: starts.append(asyncio.create_task(pool.scale_to(1)))
        await pool.start()
        try:
            assert not pool.ready
            answer = await pool.infer(BATCH)
            assert answer["who"].shape == (1,)
            assert pool.ready
        finally:
            await pool.stop()

    run(scenario())


def test_wait_ready_says_why_when_no_replica_comes_up(run: Run[Any]) -> None:
    async def scenario() -> None:
        pool = _pool(0)
        await pool.start()
        try:
            with pytest.raises(Unavailable, match="scaled to zero"):
                await pool.wait_ready(0.01)
        finally:
            await pool.stop()

    run(scenario())


def test_scaling_down_drains_a_replica_before_stopping_it(run: Run[Any]) -> None:
    async def scenario() -> None:
        pool = _pool(2)
        await pool.start()
        try:
            replicas = _held(pool)
            for replica in replicas:
                replica.gate.clear()
            batches = [asyncio.create_task(pool.infer(BATCH)) for _ in range(2)]
            await _settle()
            scaling = asyncio.create_task(pool.scale_to(1))
            await _settle()
            assert len(pool.replicas) == 1
            assert not any(r.stopped for r in replicas)
            for replica in replicas:
                replica.gate.set()
            await asyncio.gather(*batches, scaling)
            assert sum(r.stopped for r in replicas) == 1
            assert pool.counts() == {"starting": 0, "up": 1, "draining": 0}
        finally:
            await pool.stop()

    run(scenario())


def test_the_health_check_replaces_a_replica_that_stopped_answering(run: Run[Any]) -> None:
    async def scenario() -> None:
        pool = _pool(1, health_interval_s=0.02)
        await pool.start()
        try:
            (sick,) = _held(pool)
            sick.alive = False
            for _ in range(500):
                if pool.replicas and pool.replicas[0] is not sick:
                    break
                await asyncio.sleep(0.01)
            assert pool.replicas
            assert pool.replicas[0] is not sick
            assert pool.restarts == 1
            assert sick.stopped
        finally:
            await pool.stop()

    run(scenario())


class BrokenReplica(HeldReplica):
    async def start(self) -> None:
        raise Unavailable("the package's runtime is not installed")


def test_a_replica_that_cannot_start_leaves_the_pool_unready_saying_why(run: Run[Any]) -> None:
    async def scenario() -> None:
        pool = ReplicaPool(SPEC, [], replicas=1, factory=BrokenReplica, health_interval_s=30.0)
        await pool.start()
        try:
            assert not pool.ready
            assert pool.counts() == {"starting": 0, "up": 0, "draining": 0}
            with pytest.raises(Unavailable, match="runtime is not installed"):
                await pool.wait_ready(0.01)
        finally:
            await pool.stop()

    run(scenario())
