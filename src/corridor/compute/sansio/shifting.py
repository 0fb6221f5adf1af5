"""Time shifting for deferrable jobs: start when the forecast carbon intensity is lowest.

A job that may run any time before its deadline is given the start in
``[earliest, deadline - duration_s]`` whose mean forecast intensity over the run is lowest. The
mean over a run is piecewise linear in the start time, with kinks only where the run's start or
end crosses a forecast boundary, so the minimum lies at one of those starts or at either end of
the window: checking them is exact, and costs two binary searches per forecast hour.

A shift is taken only when it saves more than ``min_saving`` (2% by default) against starting
now: forecasts are uncertain, and waiting has a cost of its own (the job holds its deadline
slack, and capacity may be gone when the window opens).
"""

from __future__ import annotations

from dataclasses import dataclass

from corridor.compute.sansio.traces import HourlyTrace

DEFAULT_MIN_SAVING = 0.02


@dataclass(frozen=True, slots=True)
class ShiftPlan:
    """Where a deferrable job should start and what it saves (intensities in gCO2e/kWh)."""

    start_s: float
    mean_now: float
    mean_at_start: float

    @property
    def saving(self) -> float:
        """The fraction of the run's carbon saved against starting at ``earliest``."""
        if self.mean_now <= 0:
            return 0.0
        return (self.mean_now - self.mean_at_start) / self.mean_now


def plan_shift(
    window: tuple[float, float],
    duration_s: float,
    forecast: HourlyTrace,
    *,
    min_saving: float = DEFAULT_MIN_SAVING,
) -> ShiftPlan:
    """The best start for a run of ``duration_s`` that starts at or after ``window[0]`` and ends
    by ``window[1]`` (the deadline). Starts at ``window[0]`` unless a later start saves more than
    ``min_saving``; ties go to the earliest start."""
    earliest, deadline = window
    latest = deadline - duration_s
    mean_now = forecast.mean_over(earliest, earliest + duration_s)
    if latest <= earliest:
        return ShiftPlan(earliest, mean_now, mean_now)
    starts = {latest}
    starts.update(forecast.boundaries(earliest, latest))
    starts.update(t - duration_s for t in forecast.boundaries(earliest + duration_s, deadline))
    best_start, best_mean = earliest, mean_now
    for start in sorted(starts):
        mean = forecast.mean_over(start, start + duration_s)
        if mean < best_mean:
            best_start, best_mean = start, mean
    plan = ShiftPlan(best_start, mean_now, best_mean)
    if best_start > earliest and plan.saving <= min_saving:
        return ShiftPlan(earliest, mean_now, mean_now)
    return plan


def best_start(
    window: tuple[float, float],
    duration_s: float,
    forecast: HourlyTrace,
    *,
    min_saving: float = DEFAULT_MIN_SAVING,
) -> float:
    """The start time ``plan_shift`` chooses (``window[0]`` when shifting is not worth it)."""
    return plan_shift(window, duration_s, forecast, min_saving=min_saving).start_s
