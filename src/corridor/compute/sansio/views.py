"""The values the scheduler works on: a site as it is now, a queued job, and a decision.

Imported by ``placement`` (which re-exports them, so callers import every name from there) and
by the modules that score and check feasibility, so those need not import the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from corridor.compute.sansio.resources import Resources
from corridor.compute.sansio.traces import HourlyTrace

Objective = Literal["cost", "carbon", "time"]
OBJECTIVES: tuple[Objective, ...] = ("cost", "carbon", "time")


@dataclass(frozen=True, slots=True)
class SiteView:
    """One site as the scheduler sees it at ``now``.

    ``free`` is capacity less what placed and running attempts hold. ``releases`` optionally
    lists when held resources are expected back (``(epoch_s, resources)``, e.g. each running
    job's start + timeout); it lets the scheduler estimate a full site's wait and backfill
    without delaying the job it holds the site for. Without it, a full site's wait is unknown.
    """

    name: str
    region: str
    capacity: Resources
    free: Resources
    gpu_types: frozenset[str]
    price_per_kwh: float
    carbon_g_per_kwh: float
    pue: float
    cost_per_hour: float
    watts_per_cpu: float
    watts_per_gpu: float
    carbon_forecast: HourlyTrace | None
    up: bool = True
    releases: tuple[tuple[float, Resources], ...] = ()


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A job waiting for a site. Times are epoch seconds.

    ``datasets`` names the inputs that set ``regions`` (for refusal texts). ``duration_known``
    says ``expected_duration_s`` is the job's own timeout rather than a default guess: only then
    is a deadline shorter than it refused at submit.
    """

    id: str
    project: str
    priority: int
    submitted_at: float
    resources: Resources
    workers: int = 1
    gpu_type: str | None = None
    site: str | None = None
    regions: frozenset[str] | None = None
    objective: Objective = "time"
    deadline: float | None = None
    deferrable: bool = False
    not_before: float | None = None
    expected_duration_s: float = 600.0
    datasets: tuple[str, ...] = ()
    duration_known: bool = False

    @property
    def need(self) -> Resources:
        """What the whole gang holds at one site."""
        return self.resources.scaled(self.workers) if self.workers != 1 else self.resources


@dataclass(frozen=True, slots=True)
class Candidate:
    """One site considered for a job: whether it could take it now, its score and why."""

    site: str
    feasible: bool
    score: float | None
    why: str
    cost: float | None = None
    carbon_g: float | None = None
    wait_s: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The scheduler's answer for one job.

    ``site`` None: the job stays queued (``reason`` says why; ``impossible`` when no site could
    ever run it as the sites are now). ``start_at`` later than now: the job is deferred to that
    time (time shifting) and should be offered again then; otherwise it is placed at ``site``.
    """

    job_id: str
    site: str | None
    start_at: float | None
    candidates: tuple[Candidate, ...]
    reason: str
    impossible: bool = False


def iso(epoch_s: float) -> str:
    """``2026-12-07T09:00:00Z``: times in messages, always UTC."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
