"""Canary weights, sticky keys, explicit versions and shadows."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from corridor.errors import InvalidInput, NotFound
from corridor.serving.sansio.traffic import TrafficSplit, key_point


def test_the_split_converges_to_the_weights() -> None:
    split = TrafficSplit([("m/1", 70.0), ("m/2", 20.0), ("m/3", 10.0)])
    rng = random.Random(3)
    counts = Counter(split.pick(None, rng.random()) for _ in range(20_000))
    for version, weight in (("m/1", 0.7), ("m/2", 0.2), ("m/3", 0.1)):
        assert abs(counts[version] / 20_000 - weight) < 0.015


def test_a_route_of_weight_zero_is_never_picked_but_answers_when_named() -> None:
    split = TrafficSplit([("m/1", 0.0), ("m/2", 100.0), ("m/3", 0.0)])
    draws = [0.0, 1e-12, 0.5, 0.999999999, 1.0]
    assert {split.pick(None, d) for d in draws} == {"m/2"}
    assert {split.pick(f"user-{i}", 0.0) for i in range(500)} == {"m/2"}
    assert split.pick(None, 0.0, version="m/3") == "m/3"


def test_the_same_sticky_key_gets_the_same_version_in_every_process() -> None:
    routes = [("m/1", 50.0), ("m/2", 50.0)]
    first = [TrafficSplit(routes).pick(f"user-{i}", random.random()) for i in range(200)]
    again = [TrafficSplit(routes).pick(f"user-{i}", random.random()) for i in range(200)]
    assert first == again
    assert set(first) == {"m/1", "m/2"}
    # BLAKE2b, not hash(): the point of a key is fixed, whatever PYTHONHASHSEED says.
    assert key_point("user-1") == pytest.approx(key_point("user-1"))
    assert 0.0 <= key_point("user-1") < 1.0
    assert (
        key_point("user-1")
        == int.from_bytes(
            __import__("hashlib").blake2b(b"user-1", digest_size=8, person=b"route").digest(), "big"
        )
        / 2**64
    )


def test_sticky_keys_spread_by_the_weights() -> None:
    split = TrafficSplit([("m/1", 80.0), ("m/2", 20.0)])
    counts = Counter(split.pick(f"user-{i}", 0.0) for i in range(10_000))
    assert abs(counts["m/2"] / 10_000 - 0.2) < 0.02


def test_raising_a_canary_keeps_every_key_already_on_it() -> None:
    keys = [f"user-{i}" for i in range(2_000)]
    before = TrafficSplit([("stable", 90.0), ("canary", 10.0)])
    after = TrafficSplit([("stable", 80.0), ("canary", 20.0)])
    on_canary = {k for k in keys if before.pick(k, 0.0) == "canary"}
    assert on_canary
    assert all(after.pick(k, 0.0) == "canary" for k in on_canary)


def test_an_unknown_explicit_version_is_not_found_and_names_the_versions() -> None:
    split = TrafficSplit([("m/1", 100.0)], shadow=("m/2", 10.0))
    assert split.pick(None, 0.5, version="m/2") == "m/2"  # the shadow may be asked directly
    with pytest.raises(NotFound, match="m/1, m/2"):
        split.pick(None, 0.5, version="m/9")
    assert split.versions == ("m/1", "m/2")


def test_the_shadow_gets_its_percent_and_is_stable_per_key() -> None:
    split = TrafficSplit([("m/1", 100.0)], shadow=("m/2", 25.0))
    rng = random.Random(5)
    mirrored = sum(split.shadow_for(None, rng.random()) == "m/2" for _ in range(20_000))
    assert abs(mirrored / 20_000 - 0.25) < 0.015
    keyed = [split.shadow_for(f"user-{i}", rng.random()) for i in range(4_000)]
    assert keyed == [split.shadow_for(f"user-{i}", 0.99) for i in range(4_000)]
    assert abs(keyed.count("m/2") / 4_000 - 0.25) < 0.03
    assert TrafficSplit([("m/1", 100.0)]).shadow_for("user-1", 0.0) is None


@pytest.mark.parametrize(
    ("routes", "shadow", "message"),
    [
        ([], None, "at least one route"),
        ([("m/1", 0.0)], None, "above 0"),
        ([("m/1", 50.0), ("m/1", 50.0)], None, "once"),
        ([("m/1", -1.0), ("m/2", 101.0)], None, "negative"),
        ([("m/1", 100.0)], ("m/2", 0.0), "percent"),
    ],
)
def test_a_split_that_cannot_route_is_refused(
    routes: list[tuple[str, float]], shadow: tuple[str, float] | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        TrafficSplit(routes, shadow)
