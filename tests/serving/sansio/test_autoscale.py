"""The autoscaling policy, rule by rule, on a fake clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.serving.sansio.autoscale import Autoscaler
from corridor.serving.spec import Autoscaling


def _feed(
    scaler: Autoscaler,
    start_s: float,
    end_s: float,
    in_flight: float,
    queued: int = 0,
    step_s: float = 0.5,
) -> float:
    """Observe a constant load every ``step_s`` from ``start_s`` up to ``end_s``."""
    t = start_s
    while t <= end_s + 1e-9:
        scaler.observe(t, in_flight, queued)
        t += step_s
    return end_s


def test_scales_up_only_after_the_load_has_stayed_high_for_the_upscale_delay() -> None:
    scaler = Autoscaler(
        Autoscaling(
            min_replicas=1,
            max_replicas=8,
            target_concurrency=4,
            upscale_delay_s=5,
            downscale_delay_s=60,
        ),
        look_back_s=2,
    )
    _feed(scaler, 0, 2, in_flight=16)
    assert scaler.wanted(2) == 4
    assert scaler.desired(2, current=1) == 1  # above since t=2
    _feed(scaler, 2.5, 6.5, in_flight=16)
    assert scaler.desired(6.5, current=1) == 1  # 4.5 s above: not yet
    _feed(scaler, 7, 7, in_flight=16)
    assert scaler.desired(7, current=1) == 4


def test_a_burst_shorter_than_the_upscale_delay_changes_nothing() -> None:
    scaler = Autoscaler(
        Autoscaling(max_replicas=8, target_concurrency=4, upscale_delay_s=5), look_back_s=2
    )
    _feed(scaler, 0, 3, in_flight=20)
    assert scaler.desired(3, current=1) == 1
    _feed(scaler, 3.5, 6, in_flight=1)  # the burst is over: the wait starts again
    assert scaler.desired(6, current=1) == 1
    _feed(scaler, 6.5, 9, in_flight=20)
    assert scaler.desired(9, current=1) == 1  # 2.5 s into a new wait, not 9 s


def test_the_load_is_averaged_over_the_look_back_window() -> None:
    scaler = Autoscaler(Autoscaling(max_replicas=8, target_concurrency=4), look_back_s=10)
    scaler.observe(0, 0, 0)
    scaler.observe(1, 0, 0)
    scaler.observe(2, 24, 0)  # one spike among quiet samples
    assert scaler.average_load(2) == 8
    assert scaler.wanted(2) == 2
    scaler.observe(13, 0, 0)  # the spike has left the window
    assert scaler.wanted(13) == 1


def test_scales_down_after_the_load_has_stayed_low_for_the_downscale_delay() -> None:
    scaler = Autoscaler(
        Autoscaling(
            min_replicas=1,
            max_replicas=8,
            target_concurrency=4,
            upscale_delay_s=0,
            downscale_delay_s=30,
        ),
        look_back_s=2,
    )
    _feed(scaler, 0, 10, in_flight=4)
    assert scaler.desired(10, current=4) == 4  # below since t=10
    _feed(scaler, 10.5, 39.5, in_flight=4)
    assert scaler.desired(39.5, current=4) == 4
    _feed(scaler, 40, 40, in_flight=4)
    assert scaler.desired(40, current=4) == 1


def test_the_count_stays_within_the_bounds_whatever_the_load() -> None:
    policy = Autoscaling(
        min_replicas=2, max_replicas=3, target_concurrency=1, upscale_delay_s=0, downscale_delay_s=0
    )
    scaler = Autoscaler(policy, look_back_s=1)
    _feed(scaler, 0, 1, in_flight=1000)
    assert scaler.desired(1, current=2) == 3
    scaler = Autoscaler(policy, look_back_s=1)
    _feed(scaler, 0, 1, in_flight=0)
    assert scaler.desired(1, current=3) == 2
    # A count outside the bounds (the spec changed) is corrected at once.
    assert scaler.desired(1, current=7) == 3
    assert scaler.desired(1, current=0) == 2


def test_scales_to_zero_after_the_downscale_delay_without_traffic() -> None:
    scaler = Autoscaler(
        Autoscaling(min_replicas=0, max_replicas=4, target_concurrency=4, downscale_delay_s=60),
        look_back_s=5,
    )
    _feed(scaler, 0, 10, in_flight=2)
    _feed(scaler, 10.5, 69.5, in_flight=0)  # quiet since 10.5
    assert scaler.desired(69.5, current=1) == 1  # a lull of 59 s keeps the replica
    _feed(scaler, 70, 70.5, in_flight=0)
    assert scaler.desired(70.5, current=1) == 0


def test_scales_from_zero_at_once_when_a_request_waits() -> None:
    scaler = Autoscaler(
        Autoscaling(
            min_replicas=0,
            max_replicas=4,
            target_concurrency=4,
            upscale_delay_s=30,
            downscale_delay_s=60,
        )
    )
    assert scaler.desired(0, current=0) == 0  # nothing observed, nothing wanted
    scaler.observe(100, in_flight=0, queued=1)
    assert scaler.desired(100, current=0) == 1  # no upscale delay from zero
    scaler = Autoscaler(
        Autoscaling(min_replicas=0, max_replicas=4, target_concurrency=4, upscale_delay_s=30),
        look_back_s=1,
    )
    scaler.observe(100, in_flight=0, queued=12)
    assert scaler.desired(100, current=0) == 3  # a crowd waiting gets its count at once


@settings(max_examples=40, deadline=None)
@given(
    bounds=st.tuples(st.integers(0, 4), st.integers(1, 8)).filter(lambda b: b[0] <= b[1]),
    upscale_delay_s=st.sampled_from([0.0, 2.0, 5.0]),
    downscale_delay_s=st.sampled_from([0.0, 3.0, 30.0]),
    loads=st.lists(st.tuples(st.floats(0, 60), st.integers(0, 20)), min_size=1, max_size=80),
)
def test_the_count_moves_only_within_bounds_and_never_before_its_delay(
    bounds: tuple[int, int],
    upscale_delay_s: float,
    downscale_delay_s: float,
    loads: list[tuple[float, int]],
) -> None:
    policy = Autoscaling(
        min_replicas=bounds[0],
        max_replicas=bounds[1],
        target_concurrency=4,
        upscale_delay_s=upscale_delay_s,
        downscale_delay_s=downscale_delay_s,
    )
    scaler = Autoscaler(policy, look_back_s=2)
    current, changed_at = policy.min_replicas, 0.0
    for tick, (in_flight, queued) in enumerate(loads):
        now = tick * 0.5
        scaler.observe(now, in_flight, queued)
        desired = scaler.desired(now, current)
        assert policy.min_replicas <= desired <= policy.max_replicas
        if desired > current and current > 0:
            assert now - changed_at >= upscale_delay_s  # the wanted count stayed above
        if desired < current and desired > 0:
            assert now - changed_at >= downscale_delay_s
        if desired != current:
            current, changed_at = desired, now
