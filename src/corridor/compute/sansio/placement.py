"""Placement: which site runs a job, when, and why; and the scheduler that applies it per tick.

``place_one`` decides for one job against the sites as they are. ``Scheduler`` holds the queue
between ticks (``queue.ProjectQueues``) and, per tick, takes jobs in order (weighted fair share
across projects, priority with aging within one), places each on the feasible site with room
that minimises its objective, defers deferrable jobs to their lowest-carbon window, and stops
when every site is full or ``backfill_window`` jobs in a row could not be placed.

Gang jobs are placed all or nothing: the whole gang's resources must be free at one site. The
first job that cannot be placed becomes the head: the site where it is expected to start
soonest is held for it, and later jobs (backfill) may use that site only if they are expected
to end before the head's expected start, so backfill never delays it. With no estimate of when
the held site frees up, nothing backfills onto it.

Cost per tick: a pop and a push per job taken (O(log n)), a pass over the sites (at most a few
dozen) per job considered, and a cheap test against the largest free room of any site that
skips, without scoring, the jobs that cannot fit anywhere once a head is held. Jobs that could
not be placed are put back at the end of the tick.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from corridor.compute.sansio.feasibility import feasibility
from corridor.compute.sansio.queue import Entry, FairShare, ProjectQueues, charge, order_key
from corridor.compute.sansio.resources import Resources
from corridor.compute.sansio.scoring import Estimate, estimate, explain, rank_key
from corridor.compute.sansio.shifting import DEFAULT_MIN_SAVING, ShiftPlan, plan_shift
from corridor.compute.sansio.units import format_duration
from corridor.compute.sansio.views import (
    OBJECTIVES,
    Candidate,
    Decision,
    Objective,
    QueuedJob,
    SiteView,
    iso,
)
from corridor.errors import InvalidInput

__all__ = [
    "OBJECTIVES",
    "Candidate",
    "Decision",
    "Objective",
    "QueuedJob",
    "Scheduler",
    "SiteView",
    "feasibility",
    "place_one",
    "schedule",
]

Outcome = Literal["placed", "deferred", "blocked", "impossible"]
# A deferred start must leave this much slack before the deadline: the window's site may be
# full when it opens, and a forecast is not a promise.
DEFAULT_SHIFT_MARGIN_S = 900.0


class _SiteState:
    """A site during one tick: its view, and the room and releases this tick changed."""

    __slots__ = ("_free_text", "added", "free", "view")

    def __init__(self, view: SiteView) -> None:
        self.view = view
        self.free = view.free
        self.added: list[tuple[float, Resources]] = []
        self._free_text: str | None = None

    def take(self, need: Resources, end_s: float) -> None:
        """Hold ``need`` until ``end_s`` for a job placed in this tick."""
        self.free = self.free - need
        self.added.append((end_s, need))
        self._free_text = None

    def free_text(self) -> str:
        """The room left, as explanations print it (cached: most jobs see the same room)."""
        if self._free_text is None:
            self._free_text = self.free.clamped().describe()
        return self._free_text

    def could_take(
        self, job: QueuedJob, need: Resources, index: int, hold: _Hold | None, end_s: float
    ) -> bool:
        """The cheap test: the site is allowed for the job, up, has the room, and is not held."""
        view = self.view
        return (
            view.up
            and (job.site is None or view.name == job.site)
            and (job.regions is None or view.region in job.regions)
            and (job.gpu_type is None or job.gpu_type in view.gpu_types)
            and need.fits(self.free)
            and (hold is None or hold.allows(index, end_s))
        )

    def wait_for(self, need: Resources, now: float) -> float | None:
        """Seconds until ``need`` fits, from the expected releases; None if unknown."""
        if need.fits(self.free):
            return 0.0
        free = self.free
        for at_s, released in sorted((*self.view.releases, *self.added), key=lambda p: p[0]):
            free = free + released
            if need.fits(free):
                return max(at_s - now, 0.0)
        return None


@dataclass(frozen=True, slots=True)
class _Hold:
    """The site held for the head job; backfill may use it only if done by ``until_s``."""

    job_id: str
    site_index: int
    until_s: float | None

    def allows(self, index: int, end_s: float) -> bool:
        return index != self.site_index or (self.until_s is not None and end_s <= self.until_s)


def _static_why(job: QueuedJob, view: SiteView, need: Resources) -> str | None:
    """Why the site could never take the job as configured, or None."""
    if job.site is not None and view.name != job.site:
        return f"the job is pinned to {job.site}"
    if job.regions is not None and view.region not in job.regions:
        return f"in {view.region}; the job's data must stay in {', '.join(sorted(job.regions))}"
    if job.gpu_type is not None and job.gpu_type not in view.gpu_types:
        return f"has no {job.gpu_type} GPUs"
    if not need.fits(view.capacity):
        return (
            f"too small: the job needs {need.describe()}, the site has {view.capacity.describe()}"
        )
    return None


@dataclass(frozen=True, slots=True)
class _Result:
    kind: Outcome
    decision: Decision | None = None
    index: int | None = None
    hold: _Hold | None = None


def _decide(
    job: QueuedJob,
    states: Sequence[_SiteState],
    now: float,
    hold: _Hold | None,
    *,
    shift_margin_s: float,
    min_saving: float,
) -> _Result:
    """One job against the sites: placed at a site, deferred, or blocked (with the reason)."""
    need = job.need
    need_text = need.describe()
    duration_s = job.expected_duration_s
    objective = job.objective
    candidates: list[Candidate] = []
    usable: list[tuple[tuple[bool, float, float, float, str], int, Estimate, ShiftPlan | None]] = []
    waiting: list[tuple[int, Estimate]] = []
    any_down = False
    for index, state in enumerate(states):
        view = state.view
        why = _static_why(job, view, need)
        if why is not None:
            candidates.append(Candidate(view.name, False, None, why))
            continue
        if not view.up:
            any_down = True
            candidates.append(Candidate(view.name, False, None, "down"))
            continue
        plan = None
        if job.deferrable and job.deadline is not None and view.carbon_forecast is not None:
            plan = plan_shift(
                (now, job.deadline - shift_margin_s),
                duration_s,
                view.carbon_forecast,
                min_saving=min_saving,
            )
        start_s = plan.start_s if plan is not None else now
        if start_s <= now and not (
            need.fits(state.free) and (hold is None or hold.allows(index, now + duration_s))
        ):
            est = estimate(job, view, now, 0.0)
            if hold is not None and need.fits(state.free):
                why = f"held for job {hold.job_id}, which waits for this site"
            else:
                why = f"no room now: needs {need_text}, {state.free_text()} free"
            score = None if objective == "time" else est.figure(objective)
            candidates.append(Candidate(view.name, False, score, why, est.cost, est.carbon_g))
            waiting.append((index, est))
            continue
        est = estimate(job, view, start_s, start_s - now)
        misses = job.deadline is not None and start_s + duration_s > job.deadline
        usable.append((rank_key(objective, est, misses, view.name), index, est, plan))
        why = "room now" if start_s <= now else f"deferred to {iso(start_s)}"
        if misses:
            late_s = start_s + duration_s - (job.deadline or 0.0)
            why += f"; would end {format_duration(late_s)} after the deadline"
        candidates.append(
            Candidate(
                view.name, True, est.figure(objective), why, est.cost, est.carbon_g, est.wait_s
            )
        )
    if usable:
        return _chosen(job, states, now, candidates, usable)
    if not waiting and not any_down:
        views = [s.view for s in states]
        text = feasibility(replace(job, deadline=None, deferrable=False), views, now)
        reason = f"no site can run it: {text or 'every site rules it out'}"
        decision = Decision(job.id, None, None, tuple(candidates), reason, impossible=True)
        return _Result("impossible", decision)
    if hold is not None:
        return _Result("blocked")
    return _held(job, states, now, candidates, waiting)


def _chosen(
    job: QueuedJob,
    states: Sequence[_SiteState],
    now: float,
    candidates: list[Candidate],
    usable: list[tuple[tuple[bool, float, float, float, str], int, Estimate, ShiftPlan | None]],
) -> _Result:
    """The decision for the best usable site: placed now, or deferred to its window."""
    usable.sort(key=lambda u: u[0])
    key, index, est, plan = usable[0]
    site = states[index].view.name
    if job.site is not None:
        reason = f"pinned to {site}"
    else:
        runner = None
        if len(usable) > 1:
            other_key, other_index, other_est, _ = usable[1]
            runner = (states[other_index].view.name, other_est, other_key[0])
        reason = explain(job.objective, (site, est, key[0]), runner)
    if plan is not None and plan.start_s > now:
        reason += (
            f"; deferred to {iso(plan.start_s)}: forecast {plan.mean_at_start:.0f} gCO2e/kWh "
            f"over the run against {plan.mean_now:.0f} now ({plan.saving:.0%} less), "
            f"ending before the deadline {iso(job.deadline or 0.0)}"
        )
        decision = Decision(job.id, site, plan.start_s, tuple(candidates), reason)
        return _Result("deferred", decision, index)
    return _Result("placed", Decision(job.id, site, now, tuple(candidates), reason), index)


def _held(
    job: QueuedJob,
    states: Sequence[_SiteState],
    now: float,
    candidates: list[Candidate],
    waiting: list[tuple[int, Estimate]],
) -> _Result:
    """The head job waits; the site where it should start soonest is held for it."""
    if not waiting:
        reason = "waiting: every site that could run it is down"
        return _Result("blocked", Decision(job.id, None, None, tuple(candidates), reason))
    need = job.need
    ranked: list[tuple[bool, float, float, str, int, float | None]] = []
    for index, est in waiting:
        wait_s = states[index].wait_for(need, now)
        score = 0.0 if job.objective == "time" else est.figure(job.objective)
        ranked.append(
            (wait_s is None, wait_s or 0.0, score, states[index].view.name, index, wait_s)
        )
    ranked.sort()
    *_, site, index, wait_s = ranked[0]
    if wait_s is None:
        when = "when it frees up is unknown"
        hold = _Hold(job.id, index, None)
    else:
        when = f"expected in {format_duration(wait_s)}"
        hold = _Hold(job.id, index, now + wait_s)
    reason = f"waiting: no site has room for {need.describe()} now; {site} is held for it ({when})"
    decision = Decision(job.id, None, None, tuple(candidates), reason)
    return _Result("blocked", decision, None, hold)


def place_one(
    job: QueuedJob,
    sites: Sequence[SiteView],
    now: float,
    *,
    shift_margin_s: float = DEFAULT_SHIFT_MARGIN_S,
    min_saving: float = DEFAULT_MIN_SAVING,
) -> Decision:
    """Decide for one job against the sites as they are: a site now, a later start, or wait."""
    states = [_SiteState(view) for view in sites]
    result = _decide(job, states, now, None, shift_margin_s=shift_margin_s, min_saving=min_saving)
    assert result.decision is not None
    return result.decision


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
        self._jobs: dict[str, QueuedJob] = {}
        self._queues = ProjectQueues(project_weights)
        # Jobs whose not_before is set wait here until it passes: (not_before, job id, version).
        self._later: list[tuple[float, str, int]] = []
        self._later_version: dict[str, int] = {}
        self._versions = 0
        # Bumped by every change to the queue; with the sites' room it identifies an idle tick.
        self._changes = 0
        self._idle_signature: tuple[int, tuple[tuple[str, Resources, bool], ...]] | None = None

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
            key = order_key(job.priority, job.submitted_at, self.aging_per_s)
            self._queues.push(job.project, job.id, key, job.submitted_at)
        else:
            self._versions += 1
            self._later_version[job.id] = self._versions
            heapq.heappush(self._later, (job.not_before, job.id, self._versions))

    def discard(self, job_id: str) -> None:
        """Forget a job (placed elsewhere, cancelled); unknown ids are ignored."""
        if self._jobs.pop(job_id, None) is not None:
            self._changes += 1
            self._queues.discard(job_id)
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
            if known is not job and known != job:
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
        signature = (self._changes, tuple((v.name, v.free, v.up) for v in sites))
        if signature == self._idle_signature:
            return []  # the same queue and the same room as a tick that placed nothing
        states = [_SiteState(view) for view in sites]
        most = _most_free(states)
        # Needs (with their constraints) that fit nowhere this tick: room only shrinks within a
        # tick, so a later job of the same shape is passed over without scoring.
        failed: set[tuple[object, ...]] = set()
        replan = False
        fair = FairShare(self._queues, self._queues.projects(), usage)
        decisions: list[Decision] = []
        passed: list[tuple[str, Entry]] = []
        hold: _Hold | None = None
        misses = 0
        while fair and misses < self.backfill_window and not most.is_zero():
            project = fair.current()
            entry = self._queues.pop(project)
            if entry is None:
                fair.drop(project)
                continue
            job = self._jobs[entry.job_id]
            shape = (
                job.need,
                job.gpu_type,
                job.site,
                job.regions,
                job.expected_duration_s,
            )
            if not job.deferrable and (
                shape in failed
                or (
                    hold is not None
                    and (
                        not job.need.fits(most)
                        or not any(
                            state.could_take(job, job.need, i, hold, now + job.expected_duration_s)
                            for i, state in enumerate(states)
                        )
                    )
                )
            ):
                # Passed over without scoring: it fits nowhere now, and a site is already held.
                failed.add(shape)
                passed.append((project, entry))
                misses += 1
                continue
            result = _decide(
                job,
                states,
                now,
                hold,
                shift_margin_s=self.shift_margin_s,
                min_saving=self.min_saving,
            )
            if result.decision is not None:
                decisions.append(result.decision)
            if result.kind == "placed":
                assert result.index is not None
                states[result.index].take(job.need, now + job.expected_duration_s)
                most = _most_free(states)
                self.discard(job.id)
                fair.charge(project, charge(job.resources, job.workers))
            elif result.kind == "deferred":
                assert result.decision is not None
                self.add(replace(job, not_before=result.decision.start_at))
            else:
                if result.hold is not None:
                    hold = result.hold
                if job.deferrable:
                    replan = True
                else:
                    failed.add(shape)
                passed.append((project, entry))
                misses += 1
        for project, entry in passed:
            self._queues.restore(project, entry)
        self._queues.compact_if_stale()
        if not decisions or all(d.site is None for d in decisions):
            self._idle_signature = None if replan else (self._changes, signature[1])
        else:
            self._idle_signature = None
        return decisions

    def _release_due(self, now: float) -> None:
        """Move jobs whose not_before has passed into their project's queue."""
        while self._later and self._later[0][0] <= now:
            _, job_id, version = heapq.heappop(self._later)
            if self._later_version.get(job_id) != version:
                continue
            del self._later_version[job_id]
            self._changes += 1
            job = self._jobs[job_id]
            key = order_key(job.priority, job.submitted_at, self.aging_per_s)
            self._queues.push(job.project, job.id, key, job.submitted_at)


def _most_free(states: Sequence[_SiteState]) -> Resources:
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
