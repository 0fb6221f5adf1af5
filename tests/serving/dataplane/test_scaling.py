"""The scaler driving a real pool: scale from zero holds the request until a replica is up."""

from __future__ import annotations

import asyncio

import numpy as np

from corridor.serving.batcher import Batcher
from corridor.serving.scaler import Scaler, initial_replicas
from corridor.serving.spec import Autoscaling, Batching
from tests.serving.dataplane.functions import pool_of, scaled

TO_ZERO = Autoscaling(min_replicas=0, max_replicas=2, downscale_delay_s=0.2, upscale_delay_s=0)


def test_scale_to_zero_holds_a_request_until_a_replica_is_up_then_scales_back_down() -> None:
    model = scaled(2)
    model.start_s = 0.2  # the replica takes a while to load

    async def scenario() -> tuple[int, int, np.ndarray, int]:
        pool = pool_of(model, replicas=initial_replicas(TO_ZERO, 0))
        await pool.start()
        batcher = Batcher(pool, Batching())
        scaler = Scaler("dep", TO_ZERO, tick_s=0.05, look_back_s=0.1)
        scaler.add("m/1", pool, batcher)
        scaler.start()
        try:
            before = len(pool.replicas)
            answer = await batcher.submit({"x": np.ones((1, 4), np.float32)})
            during = len(pool.replicas)
            # No traffic for longer than the downscale delay: back to zero.
            for _ in range(100):
                if pool.target == 0 and not pool.replicas:
                    break
                await asyncio.sleep(0.05)
            return before, during, answer["y"], len(pool.replicas)
        finally:
            await scaler.stop()
            await batcher.close()
            await pool.stop()

    before, during, y, after = asyncio.run(scenario())
    assert before == 0
    assert during == 1
    np.testing.assert_array_equal(y, np.full((1, 4), 2, np.float32))
    assert after == 0


def test_without_autoscaling_a_version_runs_the_spec_s_replicas() -> None:
    assert initial_replicas(None, 3) == 3
    assert initial_replicas(Autoscaling(min_replicas=2, max_replicas=4), 1) == 2
    assert initial_replicas(Autoscaling(min_replicas=0, max_replicas=4), 1) == 1


def test_load_above_the_target_concurrency_starts_another_replica() -> None:
    model = scaled(1)
    model.delay_s = 0.05
    policy = Autoscaling(
        min_replicas=1,
        max_replicas=2,
        target_concurrency=1,
        upscale_delay_s=0,
        downscale_delay_s=60,
    )

    async def scenario() -> int:
        pool = pool_of(model, replicas=1)
        await pool.start()
        batcher = Batcher(pool, Batching(enabled=False))
        scaler = Scaler("dep", policy, tick_s=0.02, look_back_s=0.1)
        scaler.add("m/1", pool, batcher)
        scaler.start()
        try:
            x = {"x": np.ones((1, 4), np.float32)}
            for _ in range(10):
                await asyncio.gather(*(batcher.submit(x) for _ in range(6)))
                if len(pool.replicas) == 2:
                    break
            return len(pool.replicas)
        finally:
            await scaler.stop()
            await batcher.close()
            await pool.stop()

    assert asyncio.run(scenario()) == 2
