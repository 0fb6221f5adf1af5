"""Builders for sites and jobs, and a small discrete-time cluster the scheduler tests drive.

The cluster runs each placed job for exactly its expected duration, so a property that depends
on durations being right (backfill never delays the head) can be checked against real starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from corridor.compute.sansio.placement import Decision, QueuedJob, Scheduler, SiteView
from corridor.compute.sansio.queue import charge
from corridor.compute.sansio.resources import NOTHING, Resources
from corridor.compute.sansio.traces import HourlyTrace

GIB = 2**30


def site(
    name: str,
    *,
    region: str = "eu-west",
    cpus: float = 16,
    memory_gib: int = 64,
    gpus: float = 0,
    gpu_types: frozenset[str] = frozenset(),
    carbon: float = 300.0,
    price: float = 0.2,
    cost_per_hour: float = 1.0,
    forecast: HourlyTrace | None = None,
    used: Resources = NOTHING,
    up: bool = True,
    releases: tuple[tuple[float, Resources], ...] = (),
) -> SiteView:
    capacity = Resources(cpus, memory_gib * GIB, gpus)
    return SiteView(
        name=name,
        region=region,
        capacity=capacity,
        free=capacity - used,
        gpu_types=gpu_types or (frozenset({"A100"}) if gpus else frozenset()),
        price_per_kwh=price,
        carbon_g_per_kwh=carbon,
        pue=1.2,
        cost_per_hour=cost_per_hour,
        watts_per_cpu=10.0,
        watts_per_gpu=300.0,
        carbon_forecast=forecast,
        up=up,
        releases=releases,
    )


def job(
    job_id: str,
    *,
    project: str = "p",
    priority: int = 0,
    submitted_at: float = 0.0,
    cpus: float = 1,
    memory_gib: float = 1,
    gpus: float = 0,
    **kwargs: Any,
) -> QueuedJob:
    resources = Resources(cpus, int(memory_gib * GIB), gpus)
    return replace(QueuedJob(job_id, project, priority, submitted_at, resources), **kwargs)


@dataclass
class Running:
    job: QueuedJob
    site: str
    start_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.job.expected_duration_s


@dataclass
class Cluster:
    """Sites with running jobs; ``step`` ends what is due and runs one scheduler tick."""

    sites: list[SiteView]
    scheduler: Scheduler
    now: float = 0.0
    running: list[Running] = field(default_factory=list)
    started: dict[str, Running] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)

    def views(self) -> list[SiteView]:
        views = []
        for view in self.sites:
            mine = [r for r in self.running if r.site == view.name]
            used = NOTHING
            for r in mine:
                used = used + r.job.need
            releases = tuple(sorted((r.end_s, r.job.need) for r in mine))
            views.append(replace(view, free=view.capacity - used, releases=releases))
        return views

    def usage(self) -> Mapping[str, float]:
        usage: dict[str, float] = {}
        for r in self.running:
            usage[r.job.project] = usage.get(r.job.project, 0.0) + charge(
                r.job.resources, r.job.workers
            )
        return usage

    def step(self, now: float) -> list[Decision]:
        self.now = now
        self.running = [r for r in self.running if r.end_s > now]
        decisions = self.scheduler.tick(self.views(), now, self.usage())
        jobs = {j.id: j for j in self._queued_snapshot}
        for decision in decisions:
            if decision.site is not None and decision.start_at == now:
                r = Running(jobs[decision.job_id], decision.site, now)
                self.running.append(r)
                self.started[decision.job_id] = r
        self.decisions.extend(decisions)
        return decisions

    def submit(self, *jobs: QueuedJob) -> None:
        for j in jobs:
            self.scheduler.add(j)
            self._queued_snapshot.append(j)

    def __post_init__(self) -> None:
        self._queued_snapshot: list[QueuedJob] = []
