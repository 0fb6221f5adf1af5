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

import math
from collections.abc import Callable
from dataclasses import dataclass

from corridor.compute.sansio.resources import Resources
from corridor.compute.sansio.traces import HourlyTrace

DEFAULT_MIN_SAVING = 0.02
# Deferred jobs may fill at most this share of a site in any hour: every deferrable job wants the
# same low-carbon hours, and the jobs that cannot wait arrive then too.
DEFAULT_MAX_PLANNED_SHARE = 0.75
_HOUR_S = 3600.0


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
    allowed: Callable[[float], bool] | None = None,
) -> ShiftPlan:
    """The best start for a run of ``duration_s`` that starts at or after ``window[0]`` and ends
    by ``window[1]`` (the deadline). Starts at ``window[0]`` unless a later start saves more than
    ``min_saving``; ties go to the earliest start. ``allowed`` rules out later starts (a window
    already full of other deferred jobs)."""
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
        if mean < best_mean and (allowed is None or allowed(start)):
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


class PlannedLoad:
    """What deferred jobs will hold at each site, hour by hour, so shifts do not pile up.

    Without it every deferrable job picks the same cleanest hours, the site is full when they
    open, and jobs start late and miss deadlines. A window is allowed only if the jobs already
    deferred into it, plus this one, fit in ``max_share`` of the site in every hour it covers.
    """

    def __init__(self, max_share: float = DEFAULT_MAX_PLANNED_SHARE) -> None:
        self.max_share = max_share
        self._hours: dict[tuple[str, int], Resources] = {}
        self._plans: dict[str, tuple[str, float, float, Resources]] = {}

    def __len__(self) -> int:
        return len(self._plans)

    @staticmethod
    def _span(start_s: float, end_s: float) -> range:
        return range(math.floor(start_s / _HOUR_S), math.ceil(end_s / _HOUR_S))

    def fits(
        self, site: str, start_s: float, end_s: float, need: Resources, capacity: Resources
    ) -> bool:
        """True if ``need`` over ``[start_s, end_s)`` stays within the share in every hour."""
        limit = Resources(
            capacity.cpus * self.max_share,
            int(capacity.memory_bytes * self.max_share),
            capacity.gpus * self.max_share,
        )
        for hour in self._span(start_s, end_s):
            held = self._hours.get((site, hour))
            if held is not None and not (held + need).fits(limit):
                return False
        return True

    def allows(
        self, site: str, duration_s: float, need: Resources, capacity: Resources
    ) -> Callable[[float], bool]:
        """The ``allowed`` test for ``plan_shift``: may a run of this job start then?"""
        return lambda start_s: self.fits(site, start_s, start_s + duration_s, need, capacity)

    def add(self, job_id: str, site: str, start_s: float, end_s: float, need: Resources) -> None:
        """Record a job deferred to ``site`` over ``[start_s, end_s)`` (replacing its old plan)."""
        self.remove(job_id)
        self._plans[job_id] = (site, start_s, end_s, need)
        for hour in self._span(start_s, end_s):
            key = (site, hour)
            self._hours[key] = self._hours.get(key, Resources(0.0, 0, 0.0)) + need

    def remove(self, job_id: str) -> None:
        """Forget a job's plan (it started, or left the queue)."""
        plan = self._plans.pop(job_id, None)
        if plan is None:
            return
        site, start_s, end_s, need = plan
        for hour in self._span(start_s, end_s):
            key = (site, hour)
            left = self._hours[key] - need
            if left.cpus <= 1e-9 and left.memory_bytes <= 0 and left.gpus <= 1e-9:
                del self._hours[key]
            else:
                self._hours[key] = left
