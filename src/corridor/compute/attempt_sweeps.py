"""The clock's side of attempts: what the scheduler loop ends on its own each tick.

An attempt whose lease ran out (plus the margin) is lost and its job retried; a running
attempt past its job's timeout fails; a running job whose worker did not answer a cancel within
the grace is ended as cancelled; an attempt the executor could not launch, or whose worker
exited without its last report, ends at once. Each returns the attempts it ended, so the loop
can tell their executors to kill whatever is left of them.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.compute import attempts
from corridor.compute.models import Attempt, Job
from corridor.compute.sansio.states import AttemptState, JobState

if TYPE_CHECKING:
    from corridor.compute.sites import Site


def expire_leases(
    session: Session, *, now: dt.datetime, lease_s: float, sites: dict[str, Site]
) -> list[tuple[str, int]]:
    """Declare lost every live attempt whose lease ran out (plus the margin); retry its job.

    Returns the attempts ended, so the caller can tell their executors to kill what is left.
    """
    cutoff = now - dt.timedelta(seconds=attempts.margin_s(lease_s))
    stale = session.execute(
        select(Attempt.job_id, Attempt.number).where(
            Attempt.state.in_(attempts.LIVE), Attempt.lease_expires_at < cutoff
        )
    ).all()
    ended = []
    for job_id, number in stale:
        job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
        attempt = session.get(Attempt, (job_id, number))
        if job is None or attempt is None or attempt.state not in attempts.LIVE:
            continue
        if attempt.lease_expires_at >= cutoff:
            continue  # a heartbeat came in meanwhile
        if job.attempts != number:
            attempts.close_attempt(
                session, attempt, AttemptState.LOST, now=now, error=None, site=None, job=job
            )
            continue
        error = (
            f"attempt {number} was lost: no heartbeat from its worker at {attempt.site} "
            f"for {lease_s:g}s"
        )
        attempts.end_attempt(
            session, job, attempt, AttemptState.LOST, now=now, error=error, site=None
        )
        ended.append((job_id, number))
    return ended


def enforce_timeouts(
    session: Session, *, now: dt.datetime, grace_s: float, sites: dict[str, Site]
) -> list[tuple[str, int]]:
    """Fail running attempts past their job's timeout (plus ``grace_s`` for the worker, which
    enforces it first); returns the attempts ended."""
    rows = session.execute(
        select(Job.id, Job.attempts, Job.timeout_s, Attempt.started_at)
        .join(Attempt, (Attempt.job_id == Job.id) & (Attempt.number == Job.attempts))
        .where(
            Job.state == JobState.RUNNING.value,
            Job.timeout_s.is_not(None),
            Attempt.state == AttemptState.RUNNING.value,
        )
    ).all()
    ended = []
    for job_id, number, timeout_s, started_at in rows:
        if started_at is None or timeout_s is None:
            continue
        if started_at + dt.timedelta(seconds=timeout_s + grace_s) > now:
            continue
        job, attempt = _locked(session, job_id, number)
        if job is None or attempt is None:
            continue
        error = f"timed out after {timeout_s:g}s"
        attempts.end_attempt(
            session, job, attempt, AttemptState.FAILED, now=now, error=error, site=None
        )
        ended.append((job_id, number))
    return ended


def force_cancels(session: Session, *, now: dt.datetime, grace_s: float) -> list[tuple[str, int]]:
    """End as cancelled the running jobs whose worker did not stop within ``grace_s`` of the
    cancel request; returns the attempts ended (their executors kill what is left)."""
    cutoff = now - dt.timedelta(seconds=grace_s)
    rows = session.execute(
        select(Job.id, Job.attempts).where(
            Job.state == JobState.RUNNING.value,
            Job.cancel_requested.is_(True),
            Job.cancel_requested_at < cutoff,
        )
    ).all()
    ended = []
    for job_id, number in rows:
        job, attempt = _locked(session, job_id, number)
        if job is None or attempt is None:
            continue
        error = f"cancelled; its worker did not stop within {grace_s:g}s and was killed"
        attempts.end_attempt(
            session, job, attempt, AttemptState.CANCELLED, now=now, error=error, site=None
        )
        ended.append((job_id, number))
    return ended


def _locked(session: Session, job_id: str, number: int) -> tuple[Job | None, Attempt | None]:
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
    attempt = session.get(Attempt, (job_id, number))
    if (
        job is None
        or attempt is None
        or job.attempts != number
        or attempt.state not in attempts.LIVE
    ):
        return None, None
    return job, attempt


def launch_failed(
    session: Session, job_id: str, number: int, *, now: dt.datetime, error: str
) -> None:
    """The executor could not start the attempt's worker: a failure of the attempt."""
    job, attempt = _locked(session, job_id, number)
    if job is None or attempt is None:
        return
    attempts.end_attempt(
        session, job, attempt, AttemptState.FAILED, now=now, error=error, site=None
    )


def worker_gone(session: Session, job_id: str, number: int, *, now: dt.datetime) -> None:
    """The executor saw the attempt's worker exit without its last report: lost, at once."""
    job, attempt = _locked(session, job_id, number)
    if job is None or attempt is None:
        return
    error = f"attempt {number}'s worker at {attempt.site} exited without reporting how it ended"
    attempts.end_attempt(session, job, attempt, AttemptState.LOST, now=now, error=error, site=None)
