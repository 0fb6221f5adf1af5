"""A live deployment's traffic: canary weights, sticky keys, explicit versions, shadows."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import numpy as np
import pytest

from corridor.errors import NotFound
from corridor.serving.plane import InferenceContext
from corridor.serving.sampling import RequestSampler
from corridor.serving.spec import Batching, DeploymentSpec, Shadow, VersionRoute
from tests.serving.dataplane.functions import failing, live_deployment, scaled, stop

ONE = {"x": np.ones((1, 4), np.float32)}
NO_BATCHING = Batching(enabled=False)


def _version_of(answer: dict[str, np.ndarray]) -> int:
    return int(answer["y"][0, 0])


def _canary(shadow: Shadow | None = None, sticky: str | None = None) -> DeploymentSpec:
    return DeploymentSpec(
        routes=(
            VersionRoute(model="m", version=1, weight=80),
            VersionRoute(model="m", version=2, weight=20),
        ),
        shadow=shadow,
        sticky_header=sticky,
        batching=NO_BATCHING,
    )


def test_a_canary_gets_its_weight_of_the_requests() -> None:
    async def scenario() -> Counter[int]:
        deployment = await live_deployment(_canary(), {1: scaled(1), 2: scaled(2)})
        deployment._random = random.Random(7).random
        try:
            seen: Counter[int] = Counter()
            for i in range(2000):
                answer = await deployment.infer(ONE, InferenceContext(request_id=str(i)))
                seen[_version_of(answer)] += 1
            return seen
        finally:
            await stop(deployment)

    seen = asyncio.run(scenario())
    assert set(seen) == {1, 2}
    assert 0.15 < seen[2] / 2000 < 0.25


def test_a_sticky_key_stays_on_one_version_and_keys_spread_over_both() -> None:
    async def scenario() -> dict[str, set[int]]:
        deployment = await live_deployment(_canary(sticky="x-user"), {1: scaled(1), 2: scaled(2)})
        try:
            seen: dict[str, set[int]] = {}
            for user in range(60):
                for i in range(5):
                    context = InferenceContext(request_id=f"{user}-{i}", sticky_key=f"user-{user}")
                    answer = await deployment.infer(ONE, context)
                    seen.setdefault(f"user-{user}", set()).add(_version_of(answer))
            return seen
        finally:
            await stop(deployment)

    seen = asyncio.run(scenario())
    assert all(len(versions) == 1 for versions in seen.values())
    assert {v for versions in seen.values() for v in versions} == {1, 2}


def test_an_explicit_version_is_answered_by_it_and_an_unknown_one_names_the_versions() -> None:
    async def scenario() -> None:
        deployment = await live_deployment(_canary(), {1: scaled(1), 2: scaled(2)})
        try:
            for _ in range(20):
                answer = await deployment.infer(ONE, InferenceContext(request_id="r", version=2))
                assert _version_of(answer) == 2
            with pytest.raises(NotFound, match="1, 2"):
                await deployment.infer(ONE, InferenceContext(request_id="r", version=9))
            assert deployment.ready(1)
            assert not deployment.ready(9)
            assert deployment.metadata(2)["versions"] == ["1", "2"]
        finally:
            await stop(deployment)

    asyncio.run(scenario())


def test_the_shadow_receives_mirrored_traffic_and_both_answers_are_recorded() -> None:
    spec = DeploymentSpec(
        routes=(VersionRoute(model="m", version=1),),
        shadow=Shadow(model="m", version=3, percent=100),
        batching=NO_BATCHING,
    )
    shadow_model = scaled(3)

    async def scenario() -> dict[str, object]:
        deployment = await live_deployment(spec, {1: scaled(1), 3: shadow_model})
        try:
            for i in range(10):
                answer = await deployment.infer(ONE, InferenceContext(request_id=str(i)))
                assert _version_of(answer) == 1
            await deployment.recorder.drain()
            return deployment.recorder.report()
        finally:
            await stop(deployment)

    report = asyncio.run(scenario())
    assert shadow_model.calls == 10
    assert report["mirrored"] == 10
    assert report["failed"] == 0
    recent = report["recent"]
    assert isinstance(recent, list)
    assert len(recent) == 10
    assert recent[0]["primary"]["y"]["mean"] == 1.0
    assert recent[0]["shadow"]["y"]["mean"] == 3.0
    assert recent[0]["difference"]["y"]["mean_abs_difference"] == 2.0


def test_a_failing_shadow_never_reaches_the_client() -> None:
    spec = DeploymentSpec(
        routes=(VersionRoute(model="m", version=1),),
        shadow=Shadow(model="m", version=3, percent=100),
        batching=NO_BATCHING,
    )

    async def scenario() -> dict[str, object]:
        deployment = await live_deployment(spec, {1: scaled(1), 3: failing()})
        try:
            for i in range(5):
                answer = await deployment.infer(ONE, InferenceContext(request_id=str(i)))
                assert _version_of(answer) == 1
            await deployment.recorder.drain()
            return deployment.recorder.report()
        finally:
            await stop(deployment)

    report = asyncio.run(scenario())
    assert report["mirrored"] == 5
    assert report["failed"] == 5
    recent = report["recent"]
    assert isinstance(recent, list)
    assert "broken" in recent[0]["error"]
    assert recent[0]["primary"]["y"]["mean"] == 1.0


def test_a_sampling_deployment_offers_every_answer_with_its_version_to_the_sampler() -> None:
    spec = DeploymentSpec(routes=(VersionRoute(model="m", version=4),), batching=NO_BATCHING)
    sampler = RequestSampler(1.0, None, "p", deployment="dep")

    async def scenario() -> None:
        deployment = await live_deployment(spec, {4: scaled(4)}, sampler=sampler)
        try:
            for i in range(3):
                await deployment.infer(ONE, InferenceContext(request_id=str(i)))
        finally:
            await stop(deployment)

    asyncio.run(scenario())
    taken = sampler.take()
    assert [entry.version for entry in taken] == ["4", "4", "4"]
    assert taken[0].outputs["y"][0, 0] == 4
