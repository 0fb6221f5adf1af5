"""What a job would cost, emit and take at a site, and the sentence that explains a choice.

Energy is the CPU-time model the energy meters fall back to, per worker:
``(cpus * watts_per_cpu + gpus * watts_per_gpu) * duration_h / 1000`` kWh. Cost is that energy
through the site's PUE at its price, plus the job's share of the site's hourly cost (its
dominant share of CPUs, GPUs or memory). Carbon is energy through PUE at the intensity the
forecast gives for the run's window (the site's figure now when there is no forecast). Time is
the wait plus the run. Ties on the objective fall to the next figures in a fixed order and then
to the site name, so a decision never depends on the order sites are listed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from corridor.compute.sansio.resources import Resources
from corridor.compute.sansio.units import format_duration
from corridor.compute.sansio.views import Objective, QueuedJob, SiteView

# The order in which figures break ties, per objective (the objective's own figure first).
_ORDER: dict[Objective, tuple[str, ...]] = {
    "cost": ("cost", "carbon", "time"),
    "carbon": ("carbon", "cost", "time"),
    "time": ("time", "cost", "carbon"),
}


@dataclass(frozen=True, slots=True)
class Estimate:
    """A job's figures at one site, starting at ``start_s`` after a wait of ``wait_s``."""

    energy_kwh: float
    cost: float
    carbon_g: float
    wait_s: float
    time_s: float
    intensity_g_per_kwh: float

    def figure(self, name: str) -> float:
        if name == "cost":
            return self.cost
        if name == "carbon":
            return self.carbon_g
        return self.time_s


def estimate(job: QueuedJob, site: SiteView, start_s: float, wait_s: float) -> Estimate:
    """The job's energy, cost, carbon and completion time if it starts at ``start_s``."""
    duration_s = job.expected_duration_s
    duration_h = duration_s / 3600.0
    r = job.resources
    workers = job.workers
    energy_kwh = (
        (r.cpus * site.watts_per_cpu + r.gpus * site.watts_per_gpu) * duration_h / 1000.0 * workers
    )
    forecast = site.carbon_forecast
    if forecast is not None:
        intensity = forecast.mean_over(start_s, start_s + duration_s)
    else:
        intensity = site.carbon_g_per_kwh
    facility_kwh = energy_kwh * site.pue
    cost = facility_kwh * site.price_per_kwh
    if site.cost_per_hour:
        cost += site.cost_per_hour * duration_h * _share(r, workers, site)
    return Estimate(
        energy_kwh, cost, facility_kwh * intensity, wait_s, wait_s + duration_s, intensity
    )


def _share(r: Resources, workers: int, site: SiteView) -> float:
    """The gang's dominant share of the site's capacity, at most 1."""
    cap = site.capacity
    share = 0.0
    if cap.cpus > 0:
        share = r.cpus * workers / cap.cpus
    if cap.gpus > 0 and r.gpus:
        share = max(share, r.gpus * workers / cap.gpus)
    if cap.memory_bytes > 0 and r.memory_bytes:
        share = max(share, r.memory_bytes * workers / cap.memory_bytes)
    return min(share, 1.0)


def rank_key(
    objective: Objective, est: Estimate, misses_deadline: bool, site: str
) -> tuple[bool, float, float, float, str]:
    """Sort key: a site that meets the deadline first, then the objective, then ties."""
    # Spelled out per objective (not looped over _ORDER): this runs for every site of every job.
    if objective == "carbon":
        return (misses_deadline, est.carbon_g, est.cost, est.time_s, site)
    if objective == "cost":
        return (misses_deadline, est.cost, est.carbon_g, est.time_s, site)
    return (misses_deadline, est.time_s, est.cost, est.carbon_g, site)


def show(name: str, value: float) -> str:
    """A figure as the explanation prints it (``120 g``, ``0.0412``, ``10m``)."""
    if name == "carbon":
        return f"{value:.4g} g"
    if name == "cost":
        return f"{value:.4g}"
    return format_duration(value)


def explain(
    objective: Objective,
    winner: tuple[str, Estimate, bool],
    runner_up: tuple[str, Estimate, bool] | None,
) -> str:
    """One line naming the objective, the winner and why it beat the next best site."""
    name, est, misses = winner
    head = f"{objective}: {name} {show(objective, est.figure(objective))}"
    if runner_up is None:
        return f"{head} (the only site that can take it)"
    other, other_est, other_misses = runner_up
    if misses != other_misses:
        return f"{head}; it meets the deadline, {other} would not"
    for figure in _ORDER[objective]:
        mine, theirs = est.figure(figure), other_est.figure(figure)
        if mine < theirs:
            line = f"{show(figure, mine)} < {other} {show(figure, theirs)}"
            if figure == objective:
                return f"{objective}: {name} {line}"
            tied = show(objective, other_est.figure(objective))
            return f"{head} = {other} {tied}; then {figure}: {name} {line}"
    return f"{head} = {other} {show(objective, other_est.figure(objective))}; tie broken by name"
