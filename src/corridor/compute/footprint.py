"""What an attempt used, in energy, carbon and cost, and its job's totals over its attempts.

Carbon is the attempt's energy times the site's PUE times the site's intensity over the hours it
ran; cost is that energy at the site's price plus the site's hourly cost for the share of the
site the job held (`corridor.compute.sansio.carbon`). The method of every figure is kept beside
it, and a job retried with different meters lists each method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.compute.models import Attempt, Job
from corridor.compute.sansio import carbon
from corridor.compute.sansio.resources import Resources
from corridor.compute.sansio.traces import HourlyTrace

if TYPE_CHECKING:
    from corridor.compute.sites import Site


def footprint(attempt: Attempt, job: Job, site: Site) -> None:
    """Carbon and cost of the attempt from its energy, at its site, over the hours it ran."""
    assert attempt.energy_j is not None
    start = (attempt.started_at or attempt.placed_at).timestamp()
    end = (attempt.finished_at or attempt.placed_at).timestamp()
    end = max(end, start)
    kwh = carbon.grid_kwh(attempt.energy_j, site.pue)
    attempt.carbon_g = kwh * _mean(site.carbon_intensity.trace, start, end)
    held = Resources(job.cpus, job.memory_bytes, job.gpus).scaled(job.workers)
    share = carbon.capacity_share(held, site.capacity())
    hours = (end - start) / 3600
    attempt.cost = kwh * _mean(site.energy_price.trace, start, end) + (
        site.cost_per_hour * hours * share
    )


def _mean(trace: HourlyTrace, start: float, end: float) -> float:
    # Within one hour's row the value is exact; a mean of integrals taken at epoch magnitudes
    # loses digits over a span of milliseconds.
    if not trace.boundaries(start, end):
        return trace.value_at(start)
    return trace.mean_over(start, end)


def roll_up(session: Session, job: Job) -> None:
    """The job's energy, carbon and cost: the sums over its attempts that measured any."""
    session.flush()
    rows = session.scalars(select(Attempt).where(Attempt.job_id == job.id)).all()
    measured = [a for a in rows if a.energy_j is not None]
    if not measured:
        return
    job.energy_j = sum(a.energy_j or 0.0 for a in measured)
    job.energy_method = ",".join(sorted({a.energy_method or "unknown" for a in measured}))[:64]
    carbons = [a.carbon_g for a in measured if a.carbon_g is not None]
    costs = [a.cost for a in measured if a.cost is not None]
    job.carbon_g = sum(carbons) if carbons else None
    job.cost = sum(costs) if costs else None
