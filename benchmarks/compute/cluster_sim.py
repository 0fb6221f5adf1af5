"""A simulated cluster for the compute benchmarks: generated sites and jobs, and the loop.

Sites aggregate nodes (a 1,000-node, 20-site cluster is 20 sites of 50 nodes); the scheduler
places at site level and the executor (Ray) places on nodes, so nodes only set each site's
capacity here. Jobs run for exactly their expected duration. Everything is seeded.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from corridor.compute.sansio.placement import QueuedJob, SiteView
from corridor.compute.sansio.queue import charge
from corridor.compute.sansio.resources import NOTHING, Resources
from corridor.compute.sansio.traces import HourlyTrace

GIB = 2**30
REGIONS = ("eu-west", "eu-north", "us-east", "us-west", "ap-south")
PROJECTS = ("vision", "nlp", "ads", "search", "finance", "research", "infra", "batch")


def make_sites(
    count: int,
    nodes_per_site: int,
    *,
    rng: random.Random,
    forecasts: dict[str, HourlyTrace] | None = None,
) -> list[SiteView]:
    """``count`` sites of ``nodes_per_site`` nodes (32 CPUs, 256 GiB each; even sites 4 GPUs)."""
    sites = []
    for i in range(count):
        region = REGIONS[i % len(REGIONS)]
        gpus = 4 * nodes_per_site if i % 2 == 0 else 0
        capacity = Resources(32.0 * nodes_per_site, 256 * GIB * nodes_per_site, float(gpus))
        sites.append(
            SiteView(
                name=f"site-{i:02d}",
                region=region,
                capacity=capacity,
                free=capacity,
                gpu_types=frozenset({"A100" if i % 4 == 0 else "H100"}) if gpus else frozenset(),
                price_per_kwh=rng.choice([0.08, 0.12, 0.20, 0.30]),
                carbon_g_per_kwh=float(rng.randint(40, 600)),
                pue=rng.choice([1.1, 1.2, 1.4]),
                cost_per_hour=rng.choice([5.0, 10.0, 20.0]) * nodes_per_site,
                watts_per_cpu=10.0,
                watts_per_gpu=300.0,
                carbon_forecast=(forecasts or {}).get(region),
            )
        )
    return sites


def make_jobs(
    count: int, *, rng: random.Random, start_index: int, now: float, sites: Sequence[SiteView]
) -> list[QueuedJob]:
    """A mixed queue: mostly CPU jobs, some GPU jobs and gangs, a few pinned or region-bound;
    a fifth have a deadline half an hour to twelve hours after they could end."""
    names = [s.name for s in sites]
    gpu_sites = [s.name for s in sites if s.capacity.gpus > 0]
    jobs = []
    for n in range(start_index, start_index + count):
        kind = rng.random()
        workers, gpu_type, gpus = 1, None, 0.0
        if kind < 0.70:
            cpus, memory = float(rng.choice([1, 2, 4, 8])), rng.choice([1, 2, 8, 16]) * GIB
        elif kind < 0.90:
            cpus, memory, gpus = 4.0, 32 * GIB, rng.choice([0.5, 1.0])
        elif kind < 0.95:
            cpus, memory, gpus = 8.0, 64 * GIB, float(rng.choice([2, 4]))
            gpu_type = rng.choice(["A100", "H100", None])
        else:
            cpus, memory, gpus, workers = 8.0, 64 * GIB, 1.0, rng.choice([2, 4, 8])
        constraint = rng.random()
        site = None
        regions = None
        if constraint < 0.05:
            site = rng.choice(gpu_sites if gpus else names)
        elif constraint < 0.15:
            regions = frozenset(rng.sample(REGIONS, 2))
        duration_s = float(rng.choice([60, 300, 600, 1800, 3600]))
        submitted_at = now - rng.random() * 3600
        deadline = None
        if rng.random() < 0.2:
            deadline = now + duration_s + rng.uniform(0.5, 12) * 3600
        jobs.append(
            QueuedJob(
                id=f"job-{n:07d}",
                project=rng.choice(PROJECTS),
                priority=rng.randint(-5, 5),
                submitted_at=submitted_at,
                resources=Resources(cpus, memory, gpus),
                workers=workers,
                gpu_type=gpu_type,
                site=site,
                regions=regions,
                objective=rng.choice(("cost", "carbon", "time")),
                expected_duration_s=duration_s,
                deadline=deadline,
            )
        )
    return jobs


@dataclass
class Running:
    """The jobs running at each site, ended in time order."""

    sites: list[SiteView]
    used: dict[str, Resources] = field(default_factory=dict)
    ends: list[tuple[float, str, str, Resources]] = field(default_factory=list)
    releases: dict[str, list[tuple[float, Resources]]] = field(default_factory=dict)
    usage: dict[str, float] = field(default_factory=dict)

    def start(self, job: QueuedJob, site: str, now: float) -> None:
        need = job.need
        end_s = now + job.expected_duration_s
        self.used[site] = self.used.get(site, NOTHING) + need
        heapq.heappush(self.ends, (end_s, job.id, site, need))
        self.releases.setdefault(site, []).append((end_s, need))
        self.usage[job.project] = self.usage.get(job.project, 0.0) + charge(
            job.resources, job.workers
        )
        self._projects[job.id] = (job.project, charge(job.resources, job.workers))

    def finish_until(self, now: float) -> int:
        done = 0
        while self.ends and self.ends[0][0] <= now:
            _, job_id, site, need = heapq.heappop(self.ends)
            self.used[site] = self.used[site] - need
            project, amount = self._projects.pop(job_id)
            self.usage[project] -= amount
            done += 1
        for site, items in self.releases.items():
            self.releases[site] = [p for p in items if p[0] > now]
        return done

    def views(self, now: float, sites: Iterable[SiteView] | None = None) -> list[SiteView]:
        return [
            replace(
                view,
                free=view.capacity - self.used.get(view.name, NOTHING),
                releases=tuple(sorted(self.releases.get(view.name, ()), key=lambda p: p[0])),
            )
            for view in (sites if sites is not None else self.sites)
        ]

    def __post_init__(self) -> None:
        self._projects: dict[str, tuple[str, float]] = {}
