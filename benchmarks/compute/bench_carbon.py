"""Carbon and cost saved by placement and time shifting, against FIFO, on a 7-day trace.

    .venv/bin/python benchmarks/compute/bench_carbon.py [--seed 7] [--forecast-error 0.08]

Three regions with hourly carbon-intensity curves of different shapes (solar: a deep midday
dip; wind: low, with multi-day swings; fossil: high, with an evening peak) and hourly energy
prices (cheap at night), a site in each, and a week of arriving jobs: CPU and GPU jobs of 10
minutes to 6 hours; 40% deferrable with 4 to 24 hours of slack before their deadline, 30% with
a tighter deadline they may not be moved for, 30% with none; 20% bound to one region by their
data. The scheduler sees a forecast that is the real curve with a seeded relative error per
hour (``--forecast-error``); carbon and cost are accounted with the real curves.

Policies, each over the same jobs, side by side in one run:

- FIFO, one site: every job on the largest site (fossil region) in arrival order, each starting
  when it reaches the head and fits. Data residency does not exist in a one-site world.
- first-fit, 3 sites: arrival order, each job to the first site (fixed order) that has room and
  is in its regions, no scoring.
- Corridor placement (objective carbon), no shifting: deferrable jobs run at once.
- Corridor placement + time shifting.
- Corridor shifting alone: every job on the one large site, deferrable jobs shifted. This is the
  figure comparable with published temporal-shifting results (3-15%).

Carbon = energy x PUE x the real intensity over the run; energy = (cpus x watts_per_cpu + gpus x
watts_per_gpu) x hours; cost = energy x PUE x the real price over the run + the site's hourly
cost x the job's share of it. A job misses its deadline if it ends after it; every miss is
counted, including the ones time shifting causes (a window that opens on a full site).
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from corridor.compute.sansio.placement import QueuedJob, Scheduler, SiteView
from corridor.compute.sansio.resources import NOTHING, Resources
from corridor.compute.sansio.traces import HourlyTrace

HOUR = 3600.0
DAYS = 7
T0 = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
TICK_S = 300.0
GIB = 2**30


@dataclass(frozen=True)
class Region:
    name: str
    carbon: HourlyTrace  # real
    forecast: HourlyTrace  # what the scheduler sees
    price: HourlyTrace  # real, per kWh


def _curves(rng: random.Random, error: float) -> dict[str, Region]:
    hours = DAYS * 24 + 48  # the tail lets late jobs finish on the same curves
    regions = {}
    for name in ("solar", "wind", "fossil"):
        carbon, price = [], []
        phase = rng.uniform(0, 2 * math.pi)
        for h in range(hours):
            hour_of_day = h % 24
            daylight = max(0.0, math.sin(math.pi * (hour_of_day - 6) / 12))
            evening = math.exp(-(((hour_of_day - 19) / 2.5) ** 2))
            noise = rng.gauss(0, 1)
            if name == "solar":
                value = 380 - 260 * daylight + 60 * evening + 15 * noise
            elif name == "wind":
                value = 140 + 90 * math.sin(2 * math.pi * h / 57 + phase) + 10 * noise
            else:
                value = 560 + 70 * evening - 30 * daylight + 15 * noise
            carbon.append(max(value, 20.0))
            night = 1.0 if hour_of_day < 6 or hour_of_day >= 22 else 0.0
            base = {"solar": 0.22, "wind": 0.28, "fossil": 0.16}[name]
            price.append(base * (1.0 - 0.35 * night + 0.25 * evening - 0.15 * daylight))
        times = [T0 + h * HOUR for h in range(hours)]
        forecast = [v * max(0.1, 1 + rng.gauss(0, error)) for v in carbon]
        regions[name] = Region(
            name,
            HourlyTrace(zip(times, carbon, strict=True)),
            HourlyTrace(zip(times, forecast, strict=True)),
            HourlyTrace(zip(times, price, strict=True)),
        )
    return regions


def _sites(regions: dict[str, Region]) -> list[SiteView]:
    def view(name: str, region: str, cpus: float, gpus: float, cost_per_hour: float) -> SiteView:
        capacity = Resources(cpus, int(cpus * 8) * GIB, gpus)
        return SiteView(
            name=name,
            region=region,
            capacity=capacity,
            free=capacity,
            gpu_types=frozenset({"A100"}),
            price_per_kwh=0.0,
            carbon_g_per_kwh=0.0,
            pue=1.3 if region == "fossil" else 1.15,
            cost_per_hour=cost_per_hour,
            watts_per_cpu=12.0,
            watts_per_gpu=300.0,
            carbon_forecast=regions[region].forecast,
        )

    # First-fit tries them in this order: the large fossil site first, as a default would.
    return [
        view("east", "fossil", 384, 24, 30.0),
        view("north", "wind", 96, 8, 12.0),
        view("south", "solar", 160, 12, 16.0),
    ]


@dataclass(frozen=True)
class Arrival:
    job: QueuedJob
    duration_s: float


def _jobs(rng: random.Random) -> list[Arrival]:
    arrivals = []
    t = T0
    n = 0
    while t < T0 + DAYS * 24 * HOUR:
        hour_of_day = ((t - T0) / HOUR) % 24
        rate_per_h = 18 + 22 * math.exp(-(((hour_of_day - 14) / 4) ** 2))  # a working-day bump
        t += rng.expovariate(rate_per_h / HOUR)
        gpu = rng.random() < 0.3
        cpus = float(rng.choice([2, 4, 8])) if gpu else float(rng.choice([1, 2, 4, 8, 16]))
        gpus = float(rng.choice([1, 1, 2])) if gpu else 0.0
        duration = min(6 * HOUR, max(600.0, rng.lognormvariate(math.log(3600), 0.8)))
        kind = rng.random()
        deadline, deferrable = None, False
        if kind < 0.4:
            deadline, deferrable = t + duration + rng.uniform(4, 24) * HOUR, True
        elif kind < 0.7:
            deadline = t + duration + rng.uniform(1, 4) * HOUR
        regions = (
            frozenset({rng.choice(["solar", "wind", "fossil"])}) if rng.random() < 0.2 else None
        )
        job = QueuedJob(
            id=f"job-{n:05d}",
            project=rng.choice(["research", "product", "batch"]),
            priority=0,
            submitted_at=t,
            resources=Resources(cpus, int(cpus * 4) * GIB, gpus),
            regions=regions,
            objective="carbon",
            deadline=deadline,
            deferrable=deferrable,
            expected_duration_s=duration,
            duration_known=True,
        )
        arrivals.append(Arrival(job, duration))
        n += 1
    return arrivals


@dataclass
class Outcome:
    carbon_kg: float = 0.0
    cost: float = 0.0
    misses: int = 0
    with_deadline: int = 0
    wait_s: list[float] = field(default_factory=list)
    unfinished: int = 0


@dataclass
class Started:
    job: QueuedJob
    site: SiteView
    start_s: float
    end_s: float


Policy = Callable[[list[QueuedJob], list[SiteView], float], list[tuple[str, str]]]


def _account(started: list[Started], regions: dict[str, Region], total: int) -> Outcome:
    out = Outcome()
    for s in started:
        job, site = s.job, s.site
        hours = (s.end_s - s.start_s) / HOUR
        r = job.resources
        energy_kwh = (r.cpus * site.watts_per_cpu + r.gpus * site.watts_per_gpu) * hours / 1000
        energy_kwh *= job.workers
        region = regions[site.region]
        out.carbon_kg += energy_kwh * site.pue * region.carbon.mean_over(s.start_s, s.end_s) / 1000
        share = max(job.need.cpus / site.capacity.cpus, job.need.gpus / max(site.capacity.gpus, 1))
        out.cost += energy_kwh * site.pue * region.price.mean_over(s.start_s, s.end_s)
        out.cost += site.cost_per_hour * hours * min(share, 1.0)
        out.wait_s.append(s.start_s - job.submitted_at)
        if job.deadline is not None:
            out.with_deadline += 1
            out.misses += s.end_s > job.deadline + 1e-6
    out.unfinished = total - len(started)
    return out


def simulate(
    arrivals: Sequence[Arrival],
    sites: list[SiteView],
    regions: dict[str, Region],
    decide: Policy,
) -> Outcome:
    pending = sorted(arrivals, key=lambda a: a.job.submitted_at)
    duration = {a.job.id: a.duration_s for a in arrivals}
    by_name = {s.name: s for s in sites}
    queue: list[QueuedJob] = []
    running: list[Started] = []
    started: list[Started] = []
    i = 0
    now = T0
    end = T0 + (DAYS + 2) * 24 * HOUR
    while now < end and (i < len(pending) or queue or running):
        while i < len(pending) and pending[i].job.submitted_at <= now:
            queue.append(pending[i].job)
            i += 1
        running = [s for s in running if s.end_s > now]
        views = []
        for site in sites:
            used = NOTHING
            for s in running:
                if s.site.name == site.name:
                    used = used + s.job.need
            region = regions[site.region]
            views.append(
                replace(
                    site,
                    free=site.capacity - used,
                    price_per_kwh=region.price.value_at(now),
                    carbon_g_per_kwh=region.carbon.value_at(now),
                    releases=tuple(
                        sorted(
                            ((s.end_s, s.job.need) for s in running if s.site is site),
                            key=lambda p: p[0],
                        )
                    ),
                )
            )
        placed = decide(queue, views, now)
        placed_ids = set()
        for job_id, site_name in placed:
            job = next(j for j in queue if j.id == job_id)
            s = Started(job, by_name[site_name], now, now + duration[job_id])
            running.append(s)
            started.append(s)
            placed_ids.add(job_id)
        queue = [j for j in queue if j.id not in placed_ids]
        now += TICK_S
    return _account(started, regions, len(arrivals))


def fifo_one_site(site_name: str) -> Policy:
    def decide(queue: list[QueuedJob], views: list[SiteView], now: float) -> list[tuple[str, str]]:
        view = next(v for v in views if v.name == site_name)
        free, placed = view.free, []
        for job in queue:  # strict FIFO: the head waits, and so does everyone behind it
            if not job.need.fits(free):
                break
            free = free - job.need
            placed.append((job.id, site_name))
        return placed

    return decide


def first_fit(queue: list[QueuedJob], views: list[SiteView], now: float) -> list[tuple[str, str]]:
    free = {v.name: v.free for v in views}
    placed = []
    for job in queue:
        for v in views:
            if (job.regions is None or v.region in job.regions) and job.need.fits(free[v.name]):
                free[v.name] = free[v.name] - job.need
                placed.append((job.id, v.name))
                break
    return placed


def corridor(*, shift: bool, pin: str | None = None, objective: str = "carbon") -> Policy:
    scheduler = Scheduler(shift_margin_s=900.0)
    seen: dict[str, QueuedJob] = {}

    def adapt(job: QueuedJob) -> QueuedJob:
        job = replace(job, objective="cost" if objective == "cost" else "carbon")
        if pin is not None:
            job = replace(job, site=pin, regions=None)
        return job if shift else replace(job, deferrable=False)

    def decide(queue: list[QueuedJob], views: list[SiteView], now: float) -> list[tuple[str, str]]:
        for job in queue:
            if job.id not in seen:
                seen[job.id] = adapt(job)
                scheduler.add(seen[job.id])
        decisions = scheduler.tick(views, now, {})
        return [(d.job_id, d.site) for d in decisions if d.site is not None and d.start_at == now]

    return decide


def one_site(regions: dict[str, Region], region: str) -> list[SiteView]:
    """The three sites' capacity as one site in ``region``: a world without placement."""
    sites = _sites(regions)
    total = Resources(
        sum(v.capacity.cpus for v in sites),
        sum(v.capacity.memory_bytes for v in sites),
        sum(v.capacity.gpus for v in sites),
    )
    return [
        replace(
            sites[0],
            name=region,
            region=region,
            capacity=total,
            free=total,
            cost_per_hour=sum(v.cost_per_hour for v in sites),
            carbon_forecast=regions[region].forecast,
        )
    ]


def _row(name: str, out: Outcome, base: Outcome, second: Outcome | None = None) -> str:
    mean_wait_min = sum(out.wait_s) / max(len(out.wait_s), 1) / 60
    unfinished = f", {out.unfinished} unfinished" if out.unfinished else ""
    versus = f" | {1 - out.carbon_kg / second.carbon_kg:+.1%}" if second is not None else ""
    return (
        f"| {name} | {out.carbon_kg:,.0f} | {1 - out.carbon_kg / base.carbon_kg:+.1%}{versus} "
        f"| {out.cost:,.0f} | {1 - out.cost / base.cost:+.1%} "
        f"| {out.misses} of {out.with_deadline}{unfinished} | {mean_wait_min:.0f} min |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--forecast-error", type=float, default=0.08)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    regions = _curves(rng, args.forecast_error)
    sites = _sites(regions)
    arrivals = _jobs(rng)
    deferrable = sum(a.job.deferrable for a in arrivals)
    print(
        f"<!-- {len(arrivals):,} jobs over {DAYS} days ({deferrable:,} deferrable), "
        f"forecast error {args.forecast_error:.0%} per hour, seed {args.seed}, "
        f"ticks of {TICK_S:g} s; savings are 1 - policy / baseline (positive: less) -->"
    )
    policies: list[tuple[str, Policy]] = [
        ("FIFO, one site (east, fossil)", fifo_one_site("east")),
        ("first-fit, 3 sites", first_fit),
        ("Corridor placement (carbon)", corridor(shift=False)),
        ("Corridor placement + time shifting (carbon)", corridor(shift=True)),
        ("Corridor placement + time shifting (cost)", corridor(shift=True, objective="cost")),
    ]
    results = [(name, simulate(arrivals, sites, regions, policy)) for name, policy in policies]
    fifo, ff = results[0][1], results[1][1]
    print("\n**Placement and shifting over 3 sites**\n")
    print(
        "| policy | carbon kg | carbon saved vs FIFO | vs first-fit | cost | cost saved vs FIFO "
        "| deadline misses | mean wait |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, out in results:
        print(_row(name, out, fifo, ff))
    print("\n**Time shifting alone: one site with all the capacity, in each region**\n")
    print(
        "| region | policy | carbon kg | carbon saved | cost | cost saved | deadline misses "
        "| mean wait |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for region in ("solar", "wind", "fossil"):
        alone = one_site(regions, region)
        base = simulate(arrivals, alone, regions, fifo_one_site(region))
        shifted = simulate(arrivals, alone, regions, corridor(shift=True, pin=region))
        print("| " + region + " " + _row("FIFO", base, base))
        print("| " + region + " " + _row("Corridor time shifting", shifted, base))


if __name__ == "__main__":
    main()
