"""Time shifting: the lowest-carbon start that still ends by the deadline."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.compute.sansio.shifting import best_start, plan_shift
from corridor.compute.sansio.traces import HourlyTrace

PROPERTY = settings(deadline=None, derandomize=True, database=None, max_examples=100)
HOUR = 3600.0


def diurnal(hours: int = 72, base: float = 300.0, swing: float = 200.0) -> HourlyTrace:
    """High at midnight, low at noon."""
    return HourlyTrace(
        [(h * HOUR, base + swing * math.cos(2 * math.pi * h / 24)) for h in range(hours)]
    )


def test_a_job_moves_to_the_low_of_the_day() -> None:
    plan = plan_shift((0.0, 24 * HOUR), HOUR, diurnal())
    assert plan.start_s == 12 * HOUR
    assert plan.mean_at_start == pytest.approx(100.0)
    assert plan.mean_now == pytest.approx(500.0)
    assert plan.saving == pytest.approx(0.8)


def test_the_run_ends_by_the_deadline_even_when_the_low_is_later() -> None:
    start = best_start((0.0, 8 * HOUR), 2 * HOUR, diurnal())
    assert start == 6 * HOUR  # the latest start, the lowest the window allows


def test_no_shift_when_the_window_is_too_short_or_the_saving_too_small() -> None:
    assert best_start((0.0, HOUR), 2 * HOUR, diurnal()) == 0.0
    flat = HourlyTrace([(0.0, 100.0), (HOUR, 99.0)])
    assert best_start((0.0, 10 * HOUR), HOUR, flat) == 0.0  # 1% is not worth waiting for
    assert best_start((0.0, 10 * HOUR), HOUR, flat, min_saving=0.0) == HOUR


@PROPERTY
@given(
    values=st.lists(st.integers(0, 800), min_size=2, max_size=48),
    now_q=st.integers(0, 4 * 24),
    duration_q=st.integers(1, 16),
    slack_q=st.integers(0, 96),
)
def test_the_chosen_start_is_the_best_on_a_fine_grid_and_meets_the_deadline(
    values: list[int], now_q: int, duration_q: int, slack_q: int
) -> None:
    quarter = HOUR / 4
    trace = HourlyTrace([(h * HOUR, float(v)) for h, v in enumerate(values)])
    now, duration = now_q * quarter, duration_q * quarter
    deadline = now + duration + slack_q * quarter
    plan = plan_shift((now, deadline), duration, trace, min_saving=0.0)
    assert now <= plan.start_s <= deadline - duration + 1e-6
    assert plan.mean_at_start == pytest.approx(
        trace.mean_over(plan.start_s, plan.start_s + duration)
    )
    grid = [now + i * quarter / 3 for i in range(slack_q * 3 + 1)]
    best_on_grid = min(trace.mean_over(s, s + duration) for s in grid)
    assert plan.mean_at_start <= best_on_grid + 1e-6


@PROPERTY
@given(values=st.lists(st.integers(1, 800), min_size=2, max_size=48), slack_h=st.integers(0, 30))
def test_a_shift_is_only_taken_when_it_saves_more_than_the_threshold(
    values: list[int], slack_h: int
) -> None:
    trace = HourlyTrace([(h * HOUR, float(v)) for h, v in enumerate(values)])
    plan = plan_shift((0.0, (slack_h + 2) * HOUR), 2 * HOUR, trace, min_saving=0.05)
    assert plan.start_s == 0.0 or plan.saving > 0.05
