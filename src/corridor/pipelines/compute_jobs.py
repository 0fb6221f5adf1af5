"""Queue compute jobs inside the caller's write session, as the compute API does in its own.

The pipelines slice queues jobs (a step's job, a map chunk's, a driver job) in the same
transaction as the rows that name them, so that a begin retried after a lost answer finds the
step run and its job instead of queueing a second one. Every job is checked first
(`corridor.compute.submission.check_all`); a refusal raises before anything is inserted. The
caller wakes compute's scheduler (`corridor.compute.scheduler_loop.wake`) after its commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from corridor.compute import site_table, submission
from corridor.compute.models import Job
from corridor.compute.schemas import JobSubmit
from corridor.errors import InvalidInput
from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.security.policy import Principal


def check(
    session: Session,
    runtime: Runtime,
    project: Project,
    principal: Principal,
    bodies: Sequence[JobSubmit],
    *,
    now: dt.datetime,
    names: Sequence[str] | None = None,
) -> list[submission.Draft]:
    """Check every job as compute's submit route does; `InvalidInput` names the first refusal,
    by ``names[i]`` (a step's key, say) when given."""
    # The sites once for the batch (reading them parses the site table).
    sites = site_table.current_sites(runtime.settings)
    discovered = {name: site_table.site_state(runtime.settings, name)[1] for name in sites}
    drafts: list[submission.Draft] = []
    for i, body in enumerate(bodies):
        try:
            drafts += submission.check_all(
                session, project, principal, [body], sites=sites, now=now, discovered=discovered
            )
        except InvalidInput as exc:
            if names is None:
                raise
            raise InvalidInput(f"step {names[i]!r}: {exc.message}") from None
    return drafts


def insert(
    session: Session, runtime: Runtime, drafts: Sequence[submission.Draft], *, now: dt.datetime
) -> list[Job]:
    """Store the checked jobs' inputs and queue the jobs in ``session``."""
    digests = submission.store_inputs(runtime.blobs, drafts)
    return submission.insert(session, drafts, digests, now)
