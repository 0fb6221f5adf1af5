"""Per-key token buckets on a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.errors import InvalidInput
from corridor.serving.sansio.rate_limit import RateLimiter
from corridor.serving.spec import RateLimit


def test_a_burst_is_allowed_then_refused_until_tokens_refill() -> None:
    limiter = RateLimiter(requests_per_s=2.0, burst=3)
    assert [limiter.allow("t", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after_s("t", 0.0) == pytest.approx(0.5)
    assert not limiter.allow("t", 0.49)
    assert limiter.allow("t", 0.5)
    assert limiter.retry_after_s("t", 0.5) == pytest.approx(0.5)


def test_burst_zero_means_one_seconds_worth() -> None:
    limiter = RateLimiter.from_spec(RateLimit(requests_per_s=5.0))
    assert sum(limiter.allow("t", 0.0) for _ in range(10)) == 5
    slow = RateLimiter(requests_per_s=0.5)  # less than one a second: still one at a time
    assert slow.allow("t", 0.0)
    assert not slow.allow("t", 1.0)
    assert slow.allow("t", 2.0)


def test_keys_have_buckets_of_their_own() -> None:
    limiter = RateLimiter(requests_per_s=1.0, burst=1)
    assert limiter.allow("a", 0.0)
    assert not limiter.allow("a", 0.0)
    assert limiter.allow("b", 0.0)
    assert limiter.retry_after_s("unknown", 0.0) == 0.0


def test_a_clock_that_goes_backwards_refills_nothing() -> None:
    limiter = RateLimiter(requests_per_s=1.0, burst=1)
    assert limiter.allow("t", 10.0)
    assert not limiter.allow("t", 5.0)
    assert not limiter.allow("t", 10.5)
    assert limiter.allow("t", 11.0)


def test_idle_keys_are_forgotten_and_memory_stays_bounded() -> None:
    limiter = RateLimiter(requests_per_s=10.0, burst=10, max_keys=100)
    for i in range(1_000):
        limiter.allow(f"key-{i}", i * 0.001)  # one burst of many keys in 1 s
    assert len(limiter) <= 100
    for i in range(50):  # once full again (1 s later), each call sweeps idle keys away
        limiter.allow("steady", 10.0 + i * 0.1)
    assert len(limiter) <= 2


@pytest.mark.parametrize(("rate", "burst", "keys"), [(0.0, 1, 10), (1.0, -1, 10), (1.0, 1, 0)])
def test_a_limiter_that_cannot_work_is_refused(rate: float, burst: int, keys: int) -> None:
    with pytest.raises(InvalidInput):
        RateLimiter(rate, burst, max_keys=keys)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(0.5, 100.0),
    burst=st.integers(0, 20),
    gaps=st.lists(st.floats(0.0, 0.3), min_size=1, max_size=200),
)
def test_no_key_ever_gets_more_than_burst_plus_rate_times_time(
    rate: float, burst: int, gaps: list[float]
) -> None:
    limiter = RateLimiter(rate, burst)
    capacity = burst if burst > 0 else max(1.0, rate)
    now, allowed_at = 0.0, []
    for gap in gaps:
        now += gap
        if limiter.allow("t", now):
            allowed_at.append(now)
    for i, start in enumerate(allowed_at):  # every window that starts at an allowed request
        for j in range(i, len(allowed_at)):
            assert j - i + 1 <= capacity + rate * (allowed_at[j] - start) + 1e-6
