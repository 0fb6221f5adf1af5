"""Jobs' energy, carbon and cost rolled up by project, site, day or tracking run.

One grouped query over ``compute_jobs``, limited to the projects the caller may read (an admin
reads all): the database sums, Python only merges the per-method groups of one key, so the cost
is one indexed scan whatever the number of jobs. A job counts once it has an energy figure (it
ran, whatever its outcome: a failed job used energy too). ``methods`` lists every measuring
method behind a row's figures ("rapl", "cpu-time-model"...), so a total mixing measurements and
models says so. Days are UTC days of the job's end (its start when it has not ended).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.orm import Session

from corridor.compute.models import Job
from corridor.errors import InvalidInput
from corridor.security import projects
from corridor.security.models import Project
from corridor.security.policy import Permission, Principal
from corridor.store.dialects import dialect_of

ReportBy = Literal["project", "site", "day", "run"]
REPORT_BY: tuple[str, ...] = get_args(ReportBy)


@dataclass
class EnergyTotal:
    """The sums under one key of a report."""

    key: str
    jobs: int = 0
    energy_j: float = 0.0
    carbon_g: float = 0.0
    cost: float = 0.0
    methods: list[str] = field(default_factory=list)


def energy_report(
    session: Session, principal: Principal, by: str, *, project: str | None = None
) -> list[EnergyTotal]:
    """Totals by ``by`` ("project", "site", "day" or "run"), sorted by key, over the jobs of
    the projects ``principal`` may read, or of the one ``project`` (which it must be able to
    read: NotFound otherwise, as for every project it cannot see)."""
    if by not in REPORT_BY:
        raise InvalidInput(f"cannot report energy by {by!r}; choose one of {', '.join(REPORT_BY)}")
    key = _key_column(session, by)
    stmt = (
        select(
            key,
            Job.energy_method,
            func.count(),
            func.sum(Job.energy_j),
            func.sum(func.coalesce(Job.carbon_g, 0.0)),
            func.sum(func.coalesce(Job.cost, 0.0)),
        )
        .join(Project, Project.id == Job.project_id)
        .where(Job.energy_j.is_not(None))
        .group_by(key, Job.energy_method)
    )
    if project is not None:
        found = projects.authorize(session, project, principal, Permission.PROJECT_READ)
        stmt = stmt.where(Job.project_id == found.id)
    else:
        readable = projects.readable_project_ids(session, principal)
        if readable is not None:
            stmt = stmt.where(Job.project_id.in_(sorted(readable)))
    if by == "run":
        stmt = stmt.where(Job.run_id.is_not(None))
    totals: dict[str, EnergyTotal] = {}
    for name, method, jobs, energy_j, carbon_g, cost in session.execute(stmt):
        total = totals.setdefault(str(name), EnergyTotal(str(name)))
        total.jobs += int(jobs)
        total.energy_j += float(energy_j or 0.0)
        total.carbon_g += float(carbon_g or 0.0)
        total.cost += float(cost or 0.0)
        # A job retried with different meters lists its attempts' methods joined by commas.
        for one in (method or "").split(","):
            if one and one not in total.methods:
                total.methods.append(one)
    for total in totals.values():
        total.methods.sort()
    return [totals[k] for k in sorted(totals)]


def _key_column(session: Session, by: str) -> ColumnElement[Any]:
    if by == "project":
        return Project.name.expression
    if by == "site":
        return func.coalesce(Job.site, literal_column("'(none)'"))
    if by == "run":
        return Job.run_id.expression
    return dialect_of(session).utc_date(
        func.coalesce(Job.finished_at, Job.started_at, Job.created_at)
    )
