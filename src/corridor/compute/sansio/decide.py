"""One job against the sites as they are: placed at a site, deferred, or left to wait.

For each site, in the order given: is it ruled out for good (pinned elsewhere, outside the
job's regions, lacking the GPU type, too small for the whole gang), down, or without room now
(or held for another job)? The sites with room are scored on the job's objective (``scoring``),
with the sites that meet the job's deadline first; a deferrable job's score at a site uses the
lowest-carbon start its forecast allows (``shifting``). Every site becomes a ``Candidate`` with
its score and the reason it was or was not usable, so ``jobs explain`` can show them all.

A job with no usable site either can never run as the sites are now (``impossible``), or waits:
the first such job in a tick (the head) is given a hold on the site where it should start
soonest, and the scheduler lets later jobs onto that site only if they end before then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from corridor.compute.sansio.feasibility import feasibility
from corridor.compute.sansio.resources import Resources
from corridor.compute.sansio.scoring import Estimate, estimate, explain, rank_key
from corridor.compute.sansio.shifting import (
    DEFAULT_MIN_SAVING,
    PlannedLoad,
    ShiftPlan,
    plan_shift,
)
from corridor.compute.sansio.units import format_duration
from corridor.compute.sansio.views import Candidate, Decision, QueuedJob, SiteView, iso

Outcome = Literal["placed", "deferred", "blocked", "impossible"]
# A deferred start must leave this much slack before the deadline: the window's site may be
# full when it opens, and a forecast is not a promise.
DEFAULT_SHIFT_MARGIN_S = 900.0


class SiteState:
    """A site during one tick: its view, and the room and releases this tick changed."""

    __slots__ = ("_capacity_text", "_free_text", "added", "free", "view")

    def __init__(self, view: SiteView) -> None:
        self.view = view
        self.free = view.free
        self.added: list[tuple[float, Resources]] = []
        self._free_text: str | None = None
        self._capacity_text: str | None = None

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

    def capacity_text(self) -> str:
        if self._capacity_text is None:
            self._capacity_text = self.view.capacity.describe()
        return self._capacity_text

    def could_take(
        self, job: QueuedJob, need: Resources, index: int, hold: Hold | None, end_s: float
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
class Hold:
    """The site held for the head job; backfill may use it only if done by ``until_s``."""

    job_id: str
    site_index: int
    until_s: float | None

    def allows(self, index: int, end_s: float) -> bool:
        return index != self.site_index or (self.until_s is not None and end_s <= self.until_s)


def _static_why(job: QueuedJob, state: SiteState, need: Resources, need_text: str) -> str | None:
    """Why the site could never take the job as configured, or None."""
    view = state.view
    if job.site is not None and view.name != job.site:
        return f"the job is pinned to {job.site}"
    if job.regions is not None and view.region not in job.regions:
        return f"in {view.region}; the job's data must stay in {', '.join(sorted(job.regions))}"
    if job.gpu_type is not None and job.gpu_type not in view.gpu_types:
        return f"has no {job.gpu_type} GPUs"
    if not need.fits(view.capacity):
        return f"too small: the job needs {need_text}, the site has {state.capacity_text()}"
    return None


@dataclass(frozen=True, slots=True)
class Result:
    kind: Outcome
    decision: Decision | None = None
    index: int | None = None
    hold: Hold | None = None


def decide(
    job: QueuedJob,
    states: Sequence[SiteState],
    now: float,
    hold: Hold | None,
    *,
    shift_margin_s: float,
    min_saving: float,
    planned: PlannedLoad | None = None,
) -> Result:
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
        why = _static_why(job, state, need, need_text)
        if why is not None:
            candidates.append(Candidate(view.name, False, None, why))
            continue
        if not view.up:
            any_down = True
            candidates.append(Candidate(view.name, False, None, "down"))
            continue
        plan = None
        if job.deferrable and job.deadline is not None and view.carbon_forecast is not None:
            allowed = None
            if planned is not None:
                allowed = planned.allows(view.name, duration_s, need, view.capacity)
            plan = plan_shift(
                (now, job.deadline - shift_margin_s),
                duration_s,
                view.carbon_forecast,
                min_saving=min_saving,
                allowed=allowed,
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
        return Result("impossible", decision)
    if hold is not None:
        return Result("blocked")
    return _held(job, states, now, candidates, waiting)


def _chosen(
    job: QueuedJob,
    states: Sequence[SiteState],
    now: float,
    candidates: list[Candidate],
    usable: list[tuple[tuple[bool, float, float, float, str], int, Estimate, ShiftPlan | None]],
) -> Result:
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
        return Result("deferred", decision, index)
    return Result("placed", Decision(job.id, site, now, tuple(candidates), reason), index)


def _held(
    job: QueuedJob,
    states: Sequence[SiteState],
    now: float,
    candidates: list[Candidate],
    waiting: list[tuple[int, Estimate]],
) -> Result:
    """The head job waits; the site where it should start soonest is held for it."""
    if not waiting:
        reason = "waiting: every site that could run it is down"
        return Result("blocked", Decision(job.id, None, None, tuple(candidates), reason))
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
        hold = Hold(job.id, index, None)
    else:
        when = f"expected in {format_duration(wait_s)}"
        hold = Hold(job.id, index, now + wait_s)
    reason = f"waiting: no site has room for {need.describe()} now; {site} is held for it ({when})"
    decision = Decision(job.id, None, None, tuple(candidates), reason)
    return Result("blocked", decision, None, hold)


def place_one(
    job: QueuedJob,
    sites: Sequence[SiteView],
    now: float,
    *,
    shift_margin_s: float = DEFAULT_SHIFT_MARGIN_S,
    min_saving: float = DEFAULT_MIN_SAVING,
) -> Decision:
    """Decide for one job against the sites as they are: a site now, a later start, or wait."""
    states = [SiteState(view) for view in sites]
    result = decide(job, states, now, None, shift_margin_s=shift_margin_s, min_saving=min_saving)
    assert result.decision is not None
    return result.decision
