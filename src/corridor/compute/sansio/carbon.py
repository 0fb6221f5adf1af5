"""Carbon and cost of a job that has run: the pure formulas, from its energy and its site.

    carbon_g = energy_j / 3.6e6 * pue * intensity

``energy_j`` is what the job's meters read (IT energy); ``pue`` scales it to what the data centre
drew from the grid for it; ``intensity`` (gCO2e per kWh) is the time-weighted mean of the site's
hourly trace over ``[started_s, finished_s)``, so a job that ran across an hour boundary is
charged each hour's intensity for the part of the run inside it. Cost is the same energy at the
site's price, plus the site's hourly cost for the share of the site the job held.
"""

from __future__ import annotations

import math

from corridor.compute.sansio.resources import Resources
from corridor.compute.sansio.traces import HourlyTrace
from corridor.errors import InvalidInput

JOULES_PER_KWH = 3.6e6


def grid_kwh(energy_j: float, pue: float) -> float:
    """The grid energy in kWh behind ``energy_j`` of IT energy at a site of PUE ``pue``."""
    if not (math.isfinite(energy_j) and energy_j >= 0):
        raise InvalidInput(f"energy_j must be a finite number of 0 or more, not {energy_j!r}")
    if not (math.isfinite(pue) and pue >= 1):
        raise InvalidInput(f"pue must be a finite number of 1 or more, not {pue!r}")
    return energy_j / JOULES_PER_KWH * pue


def carbon_g(
    energy_j: float, pue: float, intensity: HourlyTrace, started_s: float, finished_s: float
) -> float:
    """Grams of CO2e for ``energy_j`` used between ``started_s`` and ``finished_s`` (epoch s)."""
    return grid_kwh(energy_j, pue) * intensity.mean_over(started_s, finished_s)


def capacity_share(used: Resources, capacity: Resources) -> float:
    """The share of a site that ``used`` held: its largest fraction of any dimension (a job
    holding every GPU of a site keeps others off it however few CPUs it takes)."""
    fractions = [
        part / whole
        for part, whole in (
            (used.cpus, capacity.cpus),
            (float(used.memory_bytes), float(capacity.memory_bytes)),
            (used.gpus, capacity.gpus),
        )
        if whole > 0
    ]
    return min(1.0, max(fractions, default=0.0))


def cost(
    energy_j: float,
    pue: float,
    price_per_kwh: HourlyTrace,
    started_s: float,
    finished_s: float,
    *,
    cost_per_hour: float = 0.0,
    share: float = 0.0,
) -> float:
    """What a run cost: its grid energy at the site's mean price over the run, plus
    ``cost_per_hour`` for the run's hours times ``share`` (see `capacity_share`)."""
    hours = max(0.0, finished_s - started_s) / 3600
    energy = grid_kwh(energy_j, pue) * price_per_kwh.mean_over(started_s, finished_s)
    return energy + cost_per_hour * hours * share
