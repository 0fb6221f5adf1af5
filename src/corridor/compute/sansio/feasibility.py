"""Submit-time refusals: could any site ever run this job? If not, say exactly why.

The text is what the submitter reads, so it names the resource and the most any site offers
("asks for 4 GPUs per worker; the most any site has is 2 (gpu-eu)"), the unknown site and the
known ones, the regions a dataset is pinned to, or the deadline. Checks run from the most basic
(the site exists) to the most specific, and each narrows the sites the next one looks at, so
the message names the first constraint that rules every site out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from corridor.compute.sansio.resources import Resources
from corridor.compute.sansio.units import format_bytes, format_duration, format_gpus
from corridor.compute.sansio.views import QueuedJob, SiteView, iso

# (how an amount reads, e.g. "4 GPUs"; how to get it from Resources), in the order checked.
_DIMENSIONS: tuple[tuple[Callable[[float], str], Callable[[Resources], float]], ...] = (
    (lambda v: f"{format_gpus(v)} GPU{'' if v == 1 else 's'}", lambda r: r.gpus),
    (lambda v: f"{v:g} CPU{'' if v == 1 else 's'}", lambda r: r.cpus),
    (lambda v: f"{format_bytes(int(v))} of memory", lambda r: float(r.memory_bytes)),
)


def feasibility(job: QueuedJob, sites: Sequence[SiteView], now: float) -> str | None:
    """None if some site could ever run the job, else the refusal text for submit time."""
    if not sites:
        return "no sites are configured"
    names = sorted(s.name for s in sites)
    if job.site is not None and job.site not in names:
        return f"unknown site {job.site!r}; known sites: {', '.join(names)}"
    if job.deadline is not None and job.deadline <= now:
        return f"the deadline {iso(job.deadline)} is in the past (now {iso(now)})"
    if job.deferrable and job.deadline is None:
        return "a deferrable job needs a deadline: its start may be shifted up to that time"
    if job.workers < 1:
        return f"workers must be 1 or more, not {job.workers}"
    pool = [s for s in sites if job.site is None or s.name == job.site]
    if job.regions is not None:
        inside = [s for s in pool if s.region in job.regions]
        if not inside:
            return _residency_text(job, pool)
        pool = inside
    if job.gpu_type is not None:
        with_type = [s for s in pool if job.gpu_type in s.gpu_types]
        if not with_type:
            offered = sorted({t for s in pool for t in s.gpu_types})
            have = f"GPU types offered: {', '.join(offered)}" if offered else "none offers any"
            if job.site is not None:
                return f"asks for {job.gpu_type} GPUs; site {job.site} has none ({have})"
            return f"asks for {job.gpu_type} GPUs; no {_where(pool, sites)} has them ({have})"
        pool = with_type
    pool.sort(key=lambda s: s.name)
    for show, get in _DIMENSIONS:
        asked = get(job.resources)
        best = max(pool, key=lambda s: get(s.capacity))
        if asked > get(best.capacity) + 1e-9:
            most = _most(job, pool, sites, show(get(best.capacity)), best.name)
            return f"asks for {show(asked)} per worker; {most}"
    need = job.need
    if not any(need.fits(s.capacity) for s in pool):
        for show, get in _DIMENSIONS:
            best = max(pool, key=lambda s: get(s.capacity))
            if get(need) > get(best.capacity) + 1e-9:
                most = _most(job, pool, sites, show(get(best.capacity)), best.name)
                return (
                    f"asks for {job.workers} workers at one site, {show(get(need))} in all; {most}"
                )
        return (
            f"no {_where(pool, sites)} has {need.describe()} at once for its {job.workers} workers"
        )
    if (
        job.deadline is not None
        and job.duration_known
        and now + job.expected_duration_s > job.deadline
    ):
        return (
            f"the deadline {iso(job.deadline)} is {format_duration(job.deadline - now)} away but "
            f"the job may run for {format_duration(job.expected_duration_s)} (its timeout): "
            "no site can finish it in time"
        )
    return None


def _where(pool: Sequence[SiteView], sites: Sequence[SiteView]) -> str:
    return "site" if len(pool) == len(sites) else "eligible site"


def _most(
    job: QueuedJob, pool: Sequence[SiteView], sites: Sequence[SiteView], most: str, name: str
) -> str:
    """``the most any site has is 2 (gpu-eu)``, or ``site gpu-eu has 2`` for a pinned job."""
    if job.site is not None:
        return f"site {name} has {most}"
    return f"the most any {_where(pool, sites)} has is {most} ({name})"


def _residency_text(job: QueuedJob, pool: Sequence[SiteView]) -> str:
    regions = ", ".join(sorted(job.regions or ()))
    if len(job.datasets) == 1:
        what = f"dataset {job.datasets[0]} is"
    elif job.datasets:
        what = f"datasets {', '.join(job.datasets)} are"
    else:
        what = "the job's data is"
    if job.site is not None:
        return f"site {job.site} is in {pool[0].region}, but {what} pinned to {regions}"
    where = ", ".join(f"{s.name} in {s.region}" for s in sorted(pool, key=lambda s: s.name))
    return f"{what} pinned to {regions}; no site is in them (sites: {where})"
