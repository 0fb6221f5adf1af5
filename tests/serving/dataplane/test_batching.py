"""The batcher in front of a real replica pool: gathering, splitting, errors."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from corridor.errors import InvalidInput
from corridor.serving.batcher import Batcher
from corridor.serving.plane import InferenceContext
from corridor.serving.replicas.base import ModelFailed
from corridor.serving.spec import Batching, DeploymentSpec, VersionRoute
from corridor.serving.tensors import ModelSignature, TensorSpec
from tests.serving.dataplane.functions import (
    FunctionModel,
    failing,
    live_deployment,
    pool_of,
    stop,
)

CONTEXT = InferenceContext(request_id="r")


def _rows(n: int, start: float) -> np.ndarray:
    return (np.arange(n * 4, dtype=np.float32).reshape(n, 4) + start).astype(np.float32)


def test_concurrent_requests_are_gathered_into_fewer_predict_calls() -> None:
    model = FunctionModel(lambda b: {"y": b["x"] * 2}, delay_s=0.02)

    async def scenario() -> list[np.ndarray]:
        pool = pool_of(model)
        await pool.start()
        batcher = Batcher(pool, Batching(max_batch_size=64, max_queue_delay_ms=50))
        try:
            requests = [{"x": _rows(1 + i % 3, 100.0 * i)} for i in range(40)]
            answers = await asyncio.gather(*(batcher.submit(r) for r in requests))
            return [a["y"] - r["x"] * 2 for a, r in zip(answers, requests, strict=True)]
        finally:
            await batcher.close()
            await pool.stop()

    differences = asyncio.run(scenario())
    # Every request got exactly its own rows back, doubled.
    assert all(d.shape[1] == 4 and not d.any() for d in differences)
    assert model.calls < 40 / 4
    assert max(model.batch_rows) > 3
    assert sum(model.batch_rows) == sum(1 + i % 3 for i in range(40))


def test_a_burst_to_a_model_that_predicts_inline_goes_in_one_batch_after_the_first() -> None:
    model = FunctionModel(lambda b: {"y": b["x"] + 1})

    async def scenario() -> None:
        pool = pool_of(model, inline=True)
        await pool.start()
        batcher = Batcher(pool, Batching(max_batch_size=64))
        try:
            # Twenty callers reach the batcher in one turn of the event loop.
            answers = await asyncio.gather(*(batcher.submit({"x": _rows(1, i)}) for i in range(20)))
            assert [float(a["y"][0, 0]) for a in answers] == [i + 1.0 for i in range(20)]
            # A caller alone in its turn runs at once.
            await asyncio.sleep(0)
            await batcher.submit({"x": _rows(1, 0)})
        finally:
            await batcher.close()
            await pool.stop()

    asyncio.run(scenario())
    assert model.batch_rows == [1, 19, 1]


def test_batches_never_exceed_max_batch_size_rows() -> None:
    model = FunctionModel(lambda b: {"y": b["x"]}, delay_s=0.01)

    async def scenario() -> None:
        pool = pool_of(model)
        await pool.start()
        batcher = Batcher(pool, Batching(max_batch_size=8, max_queue_delay_ms=20))
        try:
            await asyncio.gather(*(batcher.submit({"x": _rows(3, i)}) for i in range(30)))
        finally:
            await batcher.close()
            await pool.stop()

    asyncio.run(scenario())
    assert max(model.batch_rows) <= 8
    assert sum(model.batch_rows) == 90


def test_requests_whose_tensors_cannot_be_stacked_go_in_separate_batches() -> None:
    sequences = ModelSignature(
        inputs=(TensorSpec("x", "FP32", (-1, -1)),), outputs=(TensorSpec("y", "FP32", (-1,)),)
    )
    model = FunctionModel(lambda b: {"y": b["x"].sum(axis=1)}, signature=sequences, delay_s=0.01)

    async def scenario() -> list[float]:
        pool = pool_of(model)
        await pool.start()
        batcher = Batcher(pool, Batching(max_batch_size=64, max_queue_delay_ms=20))
        try:
            lengths = [3, 3, 5, 5, 3, 2, 2]
            answers = await asyncio.gather(
                *(batcher.submit({"x": np.ones((1, n), np.float32)}) for n in lengths)
            )
            return [float(a["y"][0]) for a in answers]
        finally:
            await batcher.close()
            await pool.stop()

    assert asyncio.run(scenario()) == [3, 3, 5, 5, 3, 2, 2]
    assert sum(model.batch_rows) == 7
    assert model.calls < 7


def test_a_model_that_answers_fewer_rows_than_its_batch_fails_it_saying_so() -> None:
    model = FunctionModel(lambda b: {"y": b["x"][:1]}, delay_s=0.01)

    async def scenario() -> list[object]:
        pool = pool_of(model)
        await pool.start()
        batcher = Batcher(pool, Batching(max_batch_size=64, max_queue_delay_ms=20))
        try:
            return await asyncio.gather(
                *(batcher.submit({"x": _rows(1, i)}) for i in range(6)), return_exceptions=True
            )
        finally:
            await batcher.close()
            await pool.stop()

    results = asyncio.run(scenario())
    failed = [r for r in results if isinstance(r, ModelFailed)]
    assert failed
    assert "one row per input row" in str(failed[0])


def test_disabled_batching_sends_each_request_alone() -> None:
    model = FunctionModel(lambda b: {"y": b["x"]}, delay_s=0.005)

    async def scenario() -> None:
        pool = pool_of(model)
        await pool.start()
        batcher = Batcher(pool, Batching(enabled=False))
        try:
            await asyncio.gather(*(batcher.submit({"x": _rows(1, i)}) for i in range(10)))
        finally:
            await batcher.close()
            await pool.stop()

    asyncio.run(scenario())
    assert model.calls == 10


def test_a_failing_model_fails_every_request_of_its_batch_and_the_batcher_goes_on() -> None:
    model = failing()
    good = FunctionModel(lambda b: {"y": b["x"]})

    async def scenario() -> None:
        pool = pool_of(model)
        await pool.start()
        batcher = Batcher(pool, Batching(max_batch_size=16))
        try:
            results = await asyncio.gather(
                *(batcher.submit({"x": _rows(1, i)}) for i in range(5)), return_exceptions=True
            )
            assert all(isinstance(r, Exception) and "broken" in str(r) for r in results)
            model.function = good.function
            answer = await batcher.submit({"x": _rows(2, 0)})
            assert answer["y"].shape == (2, 4)
        finally:
            await batcher.close()
            await pool.stop()

    asyncio.run(scenario())


def test_inputs_that_do_not_fit_the_signature_are_refused_naming_it() -> None:
    spec = DeploymentSpec(routes=(VersionRoute(model="m", version=1),))

    async def scenario() -> None:
        deployment = await live_deployment(spec, {1: FunctionModel(lambda b: {"y": b["x"]})})
        try:
            with pytest.raises(InvalidInput, match=r"x FP32 \[-1, 4\]"):
                await deployment.infer({"x": np.zeros((2, 3), np.float32)}, CONTEXT)
        finally:
            await stop(deployment)

    asyncio.run(scenario())
