"""The scheduler: the queue between ticks, and each tick's placements.

Each tick takes jobs in this order and places each with ``decide.decide``:

1. jobs within ``urgent_within_s`` of their latest start (deadline less duration), earliest
   first: a deadline is a promise, so it goes before priority and fair share;
2. then the rest: the project with the lowest usage per unit of weight first (weighted fair
   share), within a project the highest effective priority (priority plus aging), as
   ``queue.ProjectQueues`` orders them.

It stops when every site is full or ``backfill_window`` jobs could not be placed. Gang jobs are
placed all or nothing at one site. The first job that cannot be placed is the head: a site is
held for it and later jobs (backfill) use that site only if they end before the head's expected
start, so backfill never delays it. Deferrable jobs may be deferred to a lower-carbon window;
``shifting.PlannedLoad`` keeps the deferred jobs from piling into the same hours.

Cost per tick: a heap pop and push per job taken (O(log n)); a pass over the sites (a few dozen
at most) per job scored; jobs that fit nowhere once a head is held, or that have the same shape
as one that did not fit this tick, are passed over without scoring. A tick that would see the
same queue and the same room as one that placed nothing returns at once.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import replace

from corridor.compute.sansio.decide import (
    DEFAULT_SHIFT_MARGIN_S,
    Hold,
    SiteState,
    decide,
)
from corridor.compute.sansio.queue import Entry, FairShare, ProjectQueues, charge, order_key
from corridor.compute.sansio.resources import Resources
from corridor.compute.sansio.shifting import (
    DEFAULT_MAX_PLANNED_SHARE,
    DEFAULT_MIN_SAVING,
    PlannedLoad,
)
from corridor.compute.sansio.views import Decision, QueuedJob, SiteView
from corridor.errors import InvalidInput


class Scheduler:
    """The queue between ticks and the per-tick placement of as many jobs as fit.

    Feed it with ``schedule(jobs, ...)`` (the whole queue each tick: jobs not passed again are
    forgotten, changed ones replaced) or incrementally with ``add``/``discard`` and ``tick``.
    Placed jobs leave the scheduler; deferred jobs stay with ``not_before`` set to their start
    (the caller stores it, so the job it passes next tick compares equal and is not re-planned).
    """

    def __init__(
        self,
        *,
        aging_per_s: float = 1 / 60,
        project_weights: Mapping[str, float] | None = None,
        backfill_window: int = 256,
        shift_margin_s: float = DEFAULT_SHIFT_MARGIN_S,
        min_saving: float = DEFAULT_MIN_SAVING,
        max_planned_share: float = DEFAULT_MAX_PLANNED_SHARE,
        urgent_within_s: float = 3600.0,
    ) -> None:
        for project, weight in (project_weights or {}).items():
            if not weight > 0:
                raise InvalidInput(f"project {project!r} needs a weight above zero, not {weight}")
        if aging_per_s < 0 or backfill_window < 1:
            raise InvalidInput("aging_per_s must be zero or more and backfill_window at least 1")
        self.aging_per_s = aging_per_s
        self.backfill_window = backfill_window
        self.shift_margin_s = shift_margin_s
        self.min_saving = min_saving
        self.urgent_within_s = urgent_within_s
        # Ready jobs with a deadline, by latest start: (deadline - duration, job id).
        self._deadlines: list[tuple[float, str]] = []
        self.planned = PlannedLoad(max_planned_share)
        self._jobs: dict[str, QueuedJob] = {}
        self._queues = ProjectQueues(project_weights)
        # Jobs whose not_before is set wait here until it passes: (not_before, job id, version).
        self._later: list[tuple[float, str, int]] = []
        self._later_version: dict[str, int] = {}
        self._versions = 0
        # Bumped by every change to the queue; with the sites' room it identifies an idle tick.
        self._changes = 0
        self._idle_signature: tuple[object, ...] | None = None

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def add(self, job: QueuedJob) -> None:
        """Queue a job, or replace the queued job with the same id."""
        self.discard(job.id)
        self._changes += 1
        self._jobs[job.id] = job
        if job.not_before is None:
            self._ready(job)
        else:
            self._versions += 1
            self._later_version[job.id] = self._versions
            heapq.heappush(self._later, (job.not_before, job.id, self._versions))

    def discard(self, job_id: str) -> None:
        """Forget a job (placed elsewhere, cancelled); unknown ids are ignored."""
        if self._jobs.pop(job_id, None) is not None:
            self._changes += 1
            self._queues.discard(job_id)
            self.planned.remove(job_id)
            self._later_version.pop(job_id, None)

    def next_due(self) -> float | None:
        """The earliest ``not_before`` among waiting jobs, so a caller knows when to tick."""
        while self._later and self._later_version.get(self._later[0][1]) != self._later[0][2]:
            heapq.heappop(self._later)
        return self._later[0][0] if self._later else None

    def schedule(
        self,
        jobs: Sequence[QueuedJob],
        sites: Sequence[SiteView],
        now: float,
        usage: Mapping[str, float],
    ) -> list[Decision]:
        """Bring the queue in line with ``jobs``, then ``tick``."""
        seen: set[str] = set()
        for job in jobs:
            seen.add(job.id)
            known = self._jobs.get(job.id)
            if known is not job and known != job and not _same_plan(known, job):
                self.add(job)
        if len(seen) != len(self._jobs):
            for job_id in [i for i in self._jobs if i not in seen]:
                self.discard(job_id)
        return self.tick(sites, now, usage)

    def tick(
        self, sites: Sequence[SiteView], now: float, usage: Mapping[str, float]
    ) -> list[Decision]:
        """Place what fits now; a Decision for each job placed or deferred, and for the head."""
        self._release_due(now)
        urgent = self._take_urgent(now)
        signature = (
            self._changes,
            tuple(j.id for j in urgent),
            tuple((v.name, v.free, v.up) for v in sites),
        )
        if signature == self._idle_signature:
            self._put_back_urgent(urgent)
            return []  # the same queue and the same room as a tick that placed nothing
        fair = FairShare(self._queues, self._queues.projects(), usage)
        run = _Tick(self, sites, now, fair)
        for job in urgent:
            if job.id in self._jobs:  # not placed earlier in this loop under another entry
                run.consider(job)
        self._put_back_urgent([j for j in urgent if j.id in self._jobs])
        passed: list[tuple[str, Entry]] = []
        while fair and run.misses < self.backfill_window and not run.full():
            project = fair.current()
            entry = self._queues.pop(project)
            if entry is None:
                fair.drop(project)
                continue
            if run.consider(self._jobs[entry.job_id]) != "placed":
                passed.append((project, entry))
        for project, entry in passed:
            self._queues.restore(project, entry)
        self._queues.compact_if_stale()
        settled = any(d.site is not None for d in run.decisions) or run.replan
        self._idle_signature = None if settled else signature
        return run.decisions

    def _take_urgent(self, now: float) -> list[QueuedJob]:
        """Ready jobs within ``urgent_within_s`` of their latest start, earliest first.

        A job whose latest start has passed is no longer urgent: it will be late whatever
        happens, and letting it go first would make the jobs behind it late too (the domino
        effect of earliest-deadline-first under overload). It keeps its place in the normal order.
        """
        urgent: list[QueuedJob] = []
        horizon = now + self.urgent_within_s
        while self._deadlines and self._deadlines[0][0] <= horizon:
            latest_s, job_id = heapq.heappop(self._deadlines)
            job = self._jobs.get(job_id)
            if (
                latest_s >= now
                and job is not None
                and job_id not in self._later_version
                and _latest(job) == latest_s
            ):
                urgent.append(job)
        return urgent

    def _put_back_urgent(self, jobs: Sequence[QueuedJob]) -> None:
        for job in jobs:
            heapq.heappush(self._deadlines, (_latest(job), job.id))

    def _ready(self, job: QueuedJob) -> None:
        """Make a job eligible: into its project's heap and, with a deadline, the urgent heap."""
        key = order_key(job.priority, job.submitted_at, self.aging_per_s)
        self._queues.push(job.project, job.id, key, job.submitted_at)
        if job.deadline is not None:
            heapq.heappush(self._deadlines, (_latest(job), job.id))

    def _release_due(self, now: float) -> None:
        """Move jobs whose not_before has passed into their project's queue."""
        while self._later and self._later[0][0] <= now:
            _, job_id, version = heapq.heappop(self._later)
            if self._later_version.get(job_id) != version:
                continue
            del self._later_version[job_id]
            self._changes += 1
            self._ready(self._jobs[job_id])


class _Tick:
    """One tick's state: the sites' room, the held site, what did not fit, the decisions."""

    def __init__(
        self, scheduler: Scheduler, sites: Sequence[SiteView], now: float, fair: FairShare
    ) -> None:
        self.scheduler = scheduler
        self.states = [SiteState(view) for view in sites]
        self.now = now
        self.fair = fair
        self.most = _most_free(self.states)
        # Shapes (need and constraints) that fit nowhere this tick: room only shrinks within a
        # tick, so a later job of the same shape is passed over without scoring.
        self.failed: set[tuple[object, ...]] = set()
        self.hold: Hold | None = None
        self.decisions: list[Decision] = []
        self.misses = 0
        self.replan = False

    def full(self) -> bool:
        return self.most.is_zero()

    def consider(self, job: QueuedJob) -> str:
        """Place, defer or pass over one job; returns what happened."""
        need, end_s = job.need, self.now + job.expected_duration_s
        shape = (need, job.gpu_type, job.site, job.regions, job.expected_duration_s)
        if not job.deferrable and (
            shape in self.failed
            or (
                self.hold is not None
                and (
                    not need.fits(self.most)
                    or not any(
                        s.could_take(job, need, i, self.hold, end_s)
                        for i, s in enumerate(self.states)
                    )
                )
            )
        ):
            # Passed over without scoring: it fits nowhere now, and a site is already held.
            self.failed.add(shape)
            self.misses += 1
            return "blocked"
        scheduler = self.scheduler
        result = decide(
            job,
            self.states,
            self.now,
            self.hold,
            shift_margin_s=scheduler.shift_margin_s,
            min_saving=scheduler.min_saving,
            planned=scheduler.planned,
        )
        if result.decision is not None:
            self.decisions.append(result.decision)
        if result.kind == "placed":
            assert result.index is not None
            self.states[result.index].take(need, end_s)
            self.most = _most_free(self.states)
            scheduler.discard(job.id)
            self.fair.charge(job.project, charge(job.resources, job.workers))
        elif result.kind == "deferred":
            decision = result.decision
            assert decision is not None
            assert decision.site is not None
            start_s = decision.start_at or self.now
            scheduler.add(replace(job, not_before=start_s))
            scheduler.planned.add(
                job.id, decision.site, start_s, start_s + job.expected_duration_s, need
            )
        else:
            if result.hold is not None:
                self.hold = result.hold
            if job.deferrable:
                self.replan = True
            else:
                self.failed.add(shape)
            self.misses += 1
        return result.kind


def _same_plan(known: QueuedJob | None, job: QueuedJob) -> bool:
    """The same job whose stored ``not_before`` went through a timestamp column and back.

    A deferred job comes back with the start the scheduler gave it, rounded to the column's
    precision; treating that as a change would forget its place in the planned load.
    """
    return (
        known is not None
        and known.not_before is not None
        and job.not_before is not None
        and abs(known.not_before - job.not_before) <= 1e-3
        and replace(job, not_before=known.not_before) == known
    )


def _latest(job: QueuedJob) -> float:
    """The latest start that still meets the job's deadline."""
    return (job.deadline or 0.0) - job.expected_duration_s


def _most_free(states: Sequence[SiteState]) -> Resources:
    """The largest free room in each dimension over the sites that are up (a bound, not a fit)."""
    cpus, memory, gpus = 0.0, 0, 0.0
    for state in states:
        if state.view.up:
            free = state.free
            cpus = max(cpus, free.cpus)
            memory = max(memory, free.memory_bytes)
            gpus = max(gpus, free.gpus)
    return Resources(cpus, memory, gpus)


def schedule(
    jobs: Sequence[QueuedJob],
    sites: Sequence[SiteView],
    now: float,
    usage: Mapping[str, float],
    *,
    aging_per_s: float = 1 / 60,
    project_weights: Mapping[str, float] | None = None,
) -> list[Decision]:
    """One tick of a fresh Scheduler: for callers that keep no state between ticks."""
    scheduler = Scheduler(aging_per_s=aging_per_s, project_weights=project_weights)
    return scheduler.schedule(jobs, sites, now, usage)
