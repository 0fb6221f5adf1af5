"""Hourly traces as step functions: the value at a time and the mean over a span."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.compute.sansio.traces import HourlyTrace
from corridor.errors import InvalidInput

PROPERTY = settings(deadline=None, derandomize=True, database=None, max_examples=100)
HOUR = 3600.0


def test_value_at_holds_each_point_until_the_next_and_extends_at_both_ends() -> None:
    trace = HourlyTrace([(0.0, 100.0), (HOUR, 300.0), (2 * HOUR, 50.0)])
    assert trace.value_at(-10) == 100.0
    assert trace.value_at(0) == 100.0
    assert trace.value_at(HOUR - 1) == 100.0
    assert trace.value_at(HOUR) == 300.0
    assert trace.value_at(10 * HOUR) == 50.0


def test_mean_over_weights_each_value_by_its_time() -> None:
    trace = HourlyTrace([(0.0, 100.0), (HOUR, 300.0)])
    assert trace.mean_over(0, 2 * HOUR) == pytest.approx(200.0)
    assert trace.mean_over(HOUR / 2, 3 * HOUR / 2) == pytest.approx(200.0)
    assert trace.mean_over(0, HOUR / 4) == pytest.approx(100.0)
    assert trace.mean_over(5 * HOUR, 5 * HOUR) == 300.0  # an empty span: the value there


def _brute_mean(points: list[tuple[float, float]], t0: float, t1: float, steps: int) -> float:
    trace = HourlyTrace(points)
    width = (t1 - t0) / steps
    return sum(trace.value_at(t0 + (i + 0.5) * width) for i in range(steps)) / steps


@PROPERTY
@given(
    values=st.lists(st.floats(0, 1000), min_size=1, max_size=30),
    start_h=st.integers(-5, 35),
    length_h=st.integers(1, 20),
)
def test_mean_over_whole_hours_equals_the_average_of_the_hours(
    values: list[float], start_h: int, length_h: int
) -> None:
    points = [(h * HOUR, v) for h, v in enumerate(values)]
    trace = HourlyTrace(points)
    expected = sum(trace.value_at((start_h + i) * HOUR) for i in range(length_h)) / length_h
    mean = trace.mean_over(start_h * HOUR, (start_h + length_h) * HOUR)
    assert mean == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert mean == pytest.approx(
        _brute_mean(points, start_h * HOUR, (start_h + length_h) * HOUR, length_h * 4),
        rel=1e-9,
        abs=1e-9,
    )


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([], "at least one point"),
        ([(0.0, 1.0), (0.0, 2.0)], "timestamps must increase"),
        ([(HOUR, 1.0), (0.0, 2.0)], "timestamps must increase"),
        ([(0.0, float("nan"))], "not a pair of finite numbers"),
    ],
)
def test_a_trace_refuses_bad_points(points: list[tuple[float, float]], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        HourlyTrace(points)


def test_window_starts_with_the_value_holding_at_its_start() -> None:
    trace = HourlyTrace([(0.0, 1.0), (HOUR, 2.0), (2 * HOUR, 3.0), (3 * HOUR, 4.0)])
    window = trace.window(HOUR / 2, 2 * HOUR + 1)
    assert window.points == ((HOUR / 2, 1.0), (HOUR, 2.0), (2 * HOUR, 3.0))
    assert HourlyTrace.constant(7.0).mean_over(-HOUR, HOUR) == 7.0
