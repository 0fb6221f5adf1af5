"""What every kind of replica does, one suite run against each kind (the Ray kind runs the same
checks in ``ray_checks.py``, on the compute slice's test cluster)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from corridor.errors import InvalidInput
from corridor.serving.replicas.base import Replica, ReplicaCrashed, ReplicaKind, ReplicaSpec
from corridor.serving.replicas.registry import start_replica
from tests.serving.replicas.conftest import Run, spec_of
from tests.serving.replicas.packages import CLASSES, FEATURES

KINDS: list[ReplicaKind] = ["inprocess", "process"]
ROWS = np.random.default_rng(3).standard_normal((7, FEATURES))


@pytest.fixture(scope="module", params=KINDS)
def kind(request: pytest.FixtureRequest) -> ReplicaKind:
    value: ReplicaKind = request.param
    return value


@pytest.fixture(scope="module")
def replica(
    kind: ReplicaKind, linear_package: tuple[ReplicaSpec, list[bytes]], run: Run[Any]
) -> Iterator[Replica]:
    spec, keys = linear_package
    started = run(start_replica(spec_of(spec, kind), keys, f"linear/1#{kind}"))
    yield started
    run(started.stop())


def _expected(spec: ReplicaSpec, rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    model = json.loads((spec.package_path / "model.json").read_text())
    result: np.ndarray[Any, Any] = rows @ np.array(model["weights"]) + np.array(model["bias"])
    return result


def test_a_replica_answers_each_output_of_its_signature_for_the_whole_batch(
    replica: Replica, linear_package: tuple[ReplicaSpec, list[bytes]], run: Run[Any]
) -> None:
    assert replica.signature.describe() == (
        f"inputs: input FP64 [-1, {FEATURES}] -> outputs: output FP64 [-1, {CLASSES}]"
    )
    assert replica.kind == "tensors"
    outputs = run(replica.infer({"input": ROWS}))
    assert set(outputs) == {"output"}
    np.testing.assert_allclose(outputs["output"], _expected(linear_package[0], ROWS))


def test_a_replica_takes_concurrent_batches_and_counts_none_once_answered(
    replica: Replica, linear_package: tuple[ReplicaSpec, list[bytes]], run: Run[Any]
) -> None:
    async def many() -> list[Any]:
        return await asyncio.gather(*(replica.infer({"input": ROWS[:i]}) for i in range(1, 8)))

    answers = run(many())
    for i, answer in enumerate(answers, start=1):
        np.testing.assert_allclose(answer["output"], _expected(linear_package[0], ROWS[:i]))
    assert replica.outstanding == 0
    assert run(replica.healthy())


def test_a_replica_refuses_a_batch_its_model_cannot_take_and_keeps_serving(
    replica: Replica, run: Run[Any]
) -> None:
    with pytest.raises(InvalidInput):
        run(replica.infer({"input": np.zeros((2, FEATURES + 2))}))
    assert run(replica.healthy())
    assert run(replica.infer({"input": ROWS}))["output"].shape == (len(ROWS), CLASSES)


def test_a_stopping_replica_answers_what_it_accepted_then_sends_batches_back_as_crashed(
    kind: ReplicaKind, linear_package: tuple[ReplicaSpec, list[bytes]], run: Run[Any]
) -> None:
    spec, keys = linear_package
    replica = run(start_replica(spec_of(spec, kind), keys))

    async def stop_with_batches_in_flight() -> list[Any]:
        batches = [asyncio.create_task(replica.infer({"input": ROWS})) for _ in range(20)]
        await asyncio.sleep(0)
        await replica.stop()
        return await asyncio.gather(*batches)

    answers = run(stop_with_batches_in_flight())
    assert all(a["output"].shape == (len(ROWS), CLASSES) for a in answers)
    run(replica.stop())  # idempotent
    assert not run(replica.healthy())
    with pytest.raises(ReplicaCrashed):
        run(replica.infer({"input": ROWS}))
