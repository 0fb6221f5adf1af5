"""Between the database and the pure scheduler: the queue as `QueuedJob` values, what live
attempts hold per site and per project, the GPU devices of local sites, and a decision as
stored on its job (what `corridor jobs explain` shows).

Both reads are one query each over indexed columns; a restarted server reads the same state the
previous one left, so usage and GPU reservations survive restarts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, null, select
from sqlalchemy.orm import Session

from corridor.compute.models import Attempt, Job
from corridor.compute.sansio.placement import Decision, QueuedJob
from corridor.compute.sansio.queue import charge
from corridor.compute.sansio.resources import NOTHING, Resources
from corridor.compute.sansio.states import JobState
from corridor.security.models import Project

WAITING = (JobState.QUEUED.value, JobState.RETRYING.value)
HOLDING = (JobState.PLACED.value, JobState.RUNNING.value)
DEFAULT_EXPECTED_DURATION_S = 600.0


@dataclass
class Holding:
    """What live attempts hold: per site, and per project (fair share)."""

    used: dict[str, Resources] = field(default_factory=lambda: defaultdict(lambda: NOTHING))
    releases: dict[str, list[tuple[float, Resources]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    by_project: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    # Per site, per GPU index: the share of that device live attempts hold.
    gpus: dict[str, dict[int, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )


def read_holding(session: Session) -> Holding:
    """Sum the resources of every placed or running job, per site and per project."""
    rows = session.execute(
        select(
            Job.site,
            Project.name,
            Job.cpus,
            Job.memory_bytes,
            Job.gpus,
            Job.workers,
            Job.timeout_s,
            Job.placed_at,
            Job.started_at,
            Attempt.gpu_indices,
        )
        .join(Project, Project.id == Job.project_id)
        .join(Attempt, (Attempt.job_id == Job.id) & (Attempt.number == Job.attempts))
        .where(Job.state.in_(HOLDING))
    ).all()
    holding = Holding()
    for site, project, cpus, memory, gpus, workers, timeout_s, placed, started, indices in rows:
        if site is None:
            continue
        need = Resources(cpus, memory, gpus).scaled(workers)
        holding.used[site] = holding.used[site] + need
        # The scheduler's own measure of a share (a GPU weighs as several CPUs), so that a
        # project running GPU jobs does not look idle to fair share.
        holding.by_project[project] += charge(Resources(cpus, memory, gpus), workers)
        begun = started or placed
        if timeout_s is not None and begun is not None:
            holding.releases[site].append((begun.timestamp() + timeout_s, need))
        for index in indices or ():
            holding.gpus[site][int(index)] += min(gpus, 1.0) if gpus else 0.0
    return holding


def _queued(row: Any, project: str) -> QueuedJob:
    regions = row.regions
    datasets = row.spec.get("datasets") if isinstance(row.spec, dict) else None
    return QueuedJob(
        id=row.id,
        project=project,
        priority=row.priority,
        submitted_at=row.created_at.timestamp(),
        resources=Resources(row.cpus, row.memory_bytes, row.gpus),
        workers=row.workers,
        gpu_type=row.gpu_type,
        site=row.site_pin,
        regions=frozenset(regions) if regions is not None else None,
        objective=row.objective,
        deadline=row.deadline.timestamp() if row.deadline is not None else None,
        deferrable=row.deferrable,
        not_before=row.not_before.timestamp() if row.not_before is not None else None,
        expected_duration_s=row.timeout_s or DEFAULT_EXPECTED_DURATION_S,
        datasets=tuple(
            str(d.get("label") or d.get("ref")) for d in datasets or () if d.get("regions")
        ),
        duration_known=row.timeout_s is not None,
    )


# Plain columns, not ORM objects: the whole queue is read every tick. The spec (for the labels
# of pinned datasets, quoted in refusals) is read only for jobs whose data is pinned.
_QUEUE = (
    select(
        Job.id,
        Job.priority,
        Job.created_at,
        Job.cpus,
        Job.memory_bytes,
        Job.gpus,
        Job.workers,
        Job.gpu_type,
        Job.site_pin,
        Job.regions,
        Job.objective,
        Job.deadline,
        Job.deferrable,
        Job.not_before,
        Job.timeout_s,
        case((Job.regions.is_not(None), Job.spec), else_=null()).label("spec"),
        Project.name.label("project"),
    )
    .join(Project, Project.id == Job.project_id)
    .where(Job.state.in_(WAITING), Job.cancel_requested.is_(False))
)


def read_queue(session: Session) -> list[QueuedJob]:
    """Every queued or retrying job (those not yet due carry their ``not_before``)."""
    return [_queued(row, row.project) for row in session.execute(_QUEUE)]


# GPU devices of local sites.


def pick_gpus(
    gpus: float, workers: int, devices: int, held: Mapping[int, float]
) -> tuple[int, ...] | None:
    """Device indices for ``workers`` workers of ``gpus`` each on a machine of ``devices``:
    whole devices no one holds, or a device with room for a fraction. None: none fit now."""
    if gpus <= 0:
        return ()
    share = dict(held)
    picked: list[int] = []
    for _ in range(workers):
        if gpus >= 1:
            free = [i for i in range(devices) if share.get(i, 0.0) <= 1e-9]
            whole = math.ceil(gpus - 1e-9)
            if len(free) < whole:
                return None
            for i in free[:whole]:
                share[i] = 1.0
                picked.append(i)
        else:
            fits = [i for i in range(devices) if share.get(i, 0.0) + gpus <= 1.0 + 1e-9]
            if not fits:
                return None
            # The fullest device that still fits: keep whole devices free for whole jobs.
            best = max(fits, key=lambda i: share.get(i, 0.0))
            share[best] = share.get(best, 0.0) + gpus
            picked.append(best)
    return tuple(picked)


def explanation(decision: Decision, objective: str, now: dt.datetime) -> dict[str, Any]:
    """A decision as stored on the job (what `corridor jobs explain` shows)."""
    return {
        "objective": objective,
        "decided_at": now.isoformat(),
        "chosen": decision.site,
        "start_at": (
            dt.datetime.fromtimestamp(decision.start_at, dt.UTC).isoformat()
            if decision.start_at is not None
            else None
        ),
        "reason": decision.reason,
        "candidates": [
            {
                "site": c.site,
                "feasible": c.feasible,
                "score": _finite(c.score),
                "why": c.why,
                "cost": _finite(c.cost),
                "carbon_g": _finite(c.carbon_g),
                "wait_s": _finite(c.wait_s),
            }
            for c in decision.candidates
        ],
    }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
