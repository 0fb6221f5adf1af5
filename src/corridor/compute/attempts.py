"""Attempts: one try at a job on one site, and every state change its worker makes (the clock's
are `corridor.compute.attempt_sweeps`, which end attempts through `end_attempt` here).

Fencing: a worker's every call names its attempt, and is refused (`Conflict`, 409) unless that
attempt is the job's newest and still live (placed or running). A new attempt is opened only
after the previous one ended, so two workers can never both write for one job, and a worker
that lost its lease learns so on its next call and kills its job.

Leases: a worker's heartbeat moves ``lease_expires_at`` to ``now + lease_s``; the server
declares the attempt lost only at ``lease_expires_at + margin``, while the worker kills its job
once ``lease_s`` passed without an acknowledged heartbeat, so the two never overlap. The job
token's expiry follows the lease; when the attempt ends, the token runs out after a grace in
which the late worker hears 409 rather than an unknown-token 401.

Retries: an attempt that failed (non-zero exit, error, timeout) counts against the job's
``retries``, with exponential backoff. An attempt that was lost (the worker or its machine
vanished, or the server was down longer than a lease) says nothing about the job, so it is
retried at once and counts only against `MAX_LOSSES`.

Every function runs in the caller's write session; job rows are read ``FOR UPDATE`` so that a
heartbeat, a finish and the scheduler's sweep serialise per job on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.compute.footprint import footprint, roll_up
from corridor.compute.models import MAX_ERROR_LENGTH, Attempt, Job, LogChunk
from corridor.compute.sansio.states import (
    ATTEMPT_ENDED,
    AttemptState,
    JobState,
    attempt_transition,
    transition,
)
from corridor.compute.schemas import FinishedIn
from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.security import identity
from corridor.store.sql import insert_ignore

if TYPE_CHECKING:
    from corridor.compute.sites import Site

LIVE = frozenset({AttemptState.PLACED.value, AttemptState.RUNNING.value})
# A lost worker says nothing about the job; but a job that loses worker after worker (it
# kills its machine, say) must end some time.
MAX_LOSSES = 5
# A placed attempt's worker has not started yet: launching (a Ray task, a new interpreter)
# may take a few leases.
LAUNCH_LEASES = 3.0
# Exponential backoff stops growing at a week (20 retries of a day's backoff would be centuries).
MAX_BACKOFF_S = 7 * 86400.0
MAX_LOG_CHUNK_BYTES = 8 * 1024 * 1024
MAX_SEQ = 2**31 - 1


def margin_s(lease_s: float) -> float:
    """How long after a lease runs out the server waits before declaring the attempt lost."""
    return 0.5 + 0.25 * lease_s


@dataclass(frozen=True)
class Opened:
    """A new attempt and the secret of its job token (shown to the executor only)."""

    attempt: Attempt
    token: str


def open_attempt(
    session: Session,
    job: Job,
    *,
    site: str,
    now: dt.datetime,
    lease_s: float,
    gpu_indices: Sequence[int] = (),
    explanation: dict[str, object] | None = None,
) -> Opened:
    """Place ``job`` on ``site``: its next attempt, with a lease and a job token."""
    state = transition(job.state, JobState.PLACED)
    previous = _current(session, job)
    if previous is not None and previous.state in LIVE:
        raise Conflict(f"job {job.id}: attempt {previous.number} has not ended")
    number = job.attempts + 1
    lease_expires_at = now + dt.timedelta(seconds=lease_s * LAUNCH_LEASES)
    issued = identity.issue_job_token(
        session,
        job_id=job.id,
        attempt=number,
        ttl=lease_expires_at + dt.timedelta(seconds=margin_s(lease_s)) - now,
    )
    attempt = Attempt(
        job_id=job.id,
        number=number,
        site=site,
        state=AttemptState.PLACED.value,
        lease_expires_at=lease_expires_at,
        placed_at=now,
        gpu_indices=list(gpu_indices),
        token_id=issued.token.id,
    )
    session.add(attempt)
    job.state = state.value
    job.attempts = number
    job.site = site
    job.placed_at = now
    if explanation is not None:
        job.explanation = explanation
    session.flush()
    return Opened(attempt, issued.secret)


def _current(session: Session, job: Job) -> Attempt | None:
    if job.attempts == 0:
        return None
    return session.get(Attempt, (job.id, job.attempts))


def fenced(session: Session, job_id: str, number: int, *, lock: bool = True) -> tuple[Job, Attempt]:
    """The job and its attempt ``number`` (the job locked, for writes) if that attempt is
    current and live; `Conflict` otherwise."""
    query = select(Job).where(Job.id == job_id)
    job = session.scalar(query.with_for_update() if lock else query)
    if job is None:
        raise NotFound(f"job {job_id!r} not found")
    attempt = session.get(Attempt, (job_id, number))
    if attempt is None:
        raise NotFound(f"job {job_id} has no attempt {number}")
    if job.attempts != number or attempt.state not in LIVE:
        raise Conflict(
            f"attempt {number} of job {job_id} is no longer current "
            f"(it is {attempt.state}; the job is {job.state}): stop the job"
        )
    return job, attempt


def _renew(session: Session, attempt: Attempt, now: dt.datetime, lease_s: float) -> None:
    attempt.lease_expires_at = now + dt.timedelta(seconds=lease_s)
    if attempt.token_id is not None:
        identity.extend_job_token(
            session,
            attempt.token_id,
            expires_at=attempt.lease_expires_at + dt.timedelta(seconds=margin_s(lease_s)),
        )


def started(
    session: Session,
    job_id: str,
    number: int,
    *,
    host: str,
    pid: int,
    now: dt.datetime,
    lease_s: float,
) -> Job:
    """The worker reports in: the attempt and the job are running."""
    job, attempt = fenced(session, job_id, number)
    if attempt.state == AttemptState.RUNNING:
        return job  # a retried report
    attempt.state = attempt_transition(attempt.state, AttemptState.RUNNING).value
    attempt.started_at = now
    attempt.host = host
    attempt.pid = pid
    job.state = transition(job.state, JobState.RUNNING).value
    job.started_at = job.started_at or now
    _renew(session, attempt, now, lease_s)
    return job


def heartbeat(
    session: Session, job_id: str, number: int, *, now: dt.datetime, lease_s: float
) -> tuple[bool, dt.datetime]:
    """Extend the attempt's lease (and token); return whether the job should stop."""
    job, attempt = fenced(session, job_id, number)
    _renew(session, attempt, now, lease_s)
    return job.cancel_requested, attempt.lease_expires_at


def append_log(
    session: Session, job_id: str, number: int, *, seq: int, data: bytes, now: dt.datetime
) -> None:
    """Store chunk ``seq`` of the attempt's output; a chunk sent again is stored once."""
    if not 0 <= seq <= MAX_SEQ:
        raise InvalidInput(f"seq must be between 0 and {MAX_SEQ}")
    if len(data) > MAX_LOG_CHUNK_BYTES:
        raise InvalidInput(f"a log chunk may hold at most {MAX_LOG_CHUNK_BYTES} bytes")
    # Output a worker still ships just after its attempt ended (a gang member stopped by
    # another's failure) is what explains the end: kept while the attempt is the job's latest
    # (the job token runs out a few seconds after the end); refused once a new one started.
    job = session.get(Job, job_id)
    if job is None or session.get(Attempt, (job_id, number)) is None:
        raise NotFound(f"job {job_id} has no attempt {number}")
    if job.attempts != number:
        fenced(session, job_id, number)  # raises Conflict, naming the attempt's state
    insert_ignore(
        session,
        LogChunk,
        [
            {
                "job_id": job_id,
                "attempt": number,
                "seq": seq,
                "size_bytes": len(data),
                "data": data,
                "created_at": now,
            }
        ],
    )


def store_result(session: Session, job_id: str, number: int, *, digest: str) -> None:
    """Record the attempt's result blob (stored by the caller) on the job."""
    job, _ = fenced(session, job_id, number)
    job.result_digest = digest


def finished(
    session: Session,
    job_id: str,
    number: int,
    body: FinishedIn,
    *,
    now: dt.datetime,
    site: Site | None,
) -> Job:
    """The worker's last report: how the attempt ended and what it used; the job moves on."""
    job, attempt = fenced(session, job_id, number)
    if attempt.state == AttemptState.PLACED:
        # It ran without reporting in (its report was lost, or it ended at once).
        attempt.state = attempt_transition(attempt.state, AttemptState.RUNNING).value
        attempt.started_at = now
        job.state = transition(job.state, JobState.RUNNING).value
        job.started_at = job.started_at or now
    if job.workers > 1:
        gang_end = _rank_succeeded(job, attempt, body)
        if gang_end is None:
            return job  # the gang's other ranks have not all reported yet
        body = gang_end
    attempt.energy_j = body.energy_j
    attempt.energy_method = body.energy_method
    attempt.energy_by_device = dict(body.by_device) or None
    attempt.cpu_s = body.cpu_s
    attempt.exit_code = body.exit_code
    if job.cancel_requested:
        outcome, error = AttemptState.CANCELLED, body.error or "cancelled"
    elif body.exit_code == 0 and not body.error:
        if job.kind == "function" and job.result_digest is None:
            outcome = AttemptState.FAILED
            error = "the function's worker exited without storing a result"
        else:
            outcome, error = AttemptState.SUCCEEDED, None
    else:
        outcome = AttemptState.FAILED
        error = body.error or f"exited with status {body.exit_code}"
    end_attempt(session, job, attempt, outcome, now=now, error=error, site=site)
    job.exit_code = body.exit_code
    return job


def _rank_succeeded(job: Job, attempt: Attempt, body: FinishedIn) -> FinishedIn | None:
    """Record one gang member's report; None while other ranks are still to report, else the
    report to end the attempt with (its figures summed over the ranks).

    A gang succeeds when every rank has; the first rank that fails ends the attempt (and its
    token, so every other rank is fenced off and stops).
    """
    summed = body.model_copy(
        update={
            "energy_j": _plus(body.energy_j, attempt.energy_j),
            "cpu_s": _plus(body.cpu_s, attempt.cpu_s),
            "energy_method": ",".join(
                sorted({m for m in (attempt.energy_method, body.energy_method) if m})
            )
            or None,
        }
    )
    if job.cancel_requested or body.exit_code != 0 or body.error or body.rank >= job.workers:
        return summed
    done = set(attempt.ranks_done or [])
    if body.rank in done:
        return None  # a report sent again
    attempt.ranks_done = sorted(done | {body.rank})
    attempt.energy_j, attempt.cpu_s = summed.energy_j, summed.cpu_s
    attempt.energy_method = summed.energy_method
    return summed if len(attempt.ranks_done) == job.workers else None


def _plus(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else (a or 0.0) + (b or 0.0)


def end_current(
    session: Session,
    job: Job,
    outcome: str,
    *,
    now: dt.datetime,
    error: str | None,
    site: Site | None = None,
) -> Attempt | None:
    """End the job's live attempt (if any) as ``outcome`` without moving the job itself."""
    attempt = _current(session, job)
    if attempt is None or attempt.state not in LIVE:
        return None
    close_attempt(session, attempt, AttemptState(outcome), now=now, error=error, site=site, job=job)
    return attempt


def close_attempt(
    session: Session,
    attempt: Attempt,
    outcome: AttemptState,
    *,
    now: dt.datetime,
    error: str | None,
    site: Site | None,
    job: Job,
) -> None:
    attempt.state = attempt_transition(attempt.state, outcome).value
    attempt.finished_at = now
    attempt.error = error[:MAX_ERROR_LENGTH] if error else None
    if attempt.token_id is not None:
        identity.end_job_token(
            session, attempt.token_id, grace=dt.timedelta(seconds=_grace_s(attempt, now))
        )
    if attempt.energy_j is not None and site is not None:
        footprint(attempt, job, site)
    roll_up(session, job)


def _grace_s(attempt: Attempt, now: dt.datetime) -> float:
    # As long as the lease had left, and at least a few seconds, for the late worker to learn.
    return max(5.0, (attempt.lease_expires_at - now).total_seconds())


def end_attempt(
    session: Session,
    job: Job,
    attempt: Attempt,
    outcome: AttemptState,
    *,
    now: dt.datetime,
    error: str | None,
    site: Site | None,
) -> None:
    """End ``attempt`` as ``outcome`` and move the job: done, retrying, or failed."""
    close_attempt(session, attempt, outcome, now=now, error=error, site=site, job=job)
    if outcome is AttemptState.SUCCEEDED:
        _finish(job, JobState.SUCCEEDED, now, None)
    elif outcome is AttemptState.CANCELLED:
        _finish(job, JobState.CANCELLED, now, error)
    elif outcome is AttemptState.LOST:
        losses = _count(session, job.id, AttemptState.LOST)
        if job.cancel_requested:
            _finish(job, JobState.CANCELLED, now, "cancelled; its worker was lost")
        elif losses < MAX_LOSSES:
            _retry(job, now, delay_s=0.0, error=error)
        else:
            _finish(job, JobState.FAILED, now, f"{error} ({losses} workers lost; giving up)")
    else:
        failures = _count(session, job.id, AttemptState.FAILED)
        if failures <= job.retries:
            delay_s = min(job.backoff_s * 2 ** (failures - 1), MAX_BACKOFF_S)
            _retry(job, now, delay_s=delay_s, error=error)
        else:
            _finish(job, JobState.FAILED, now, error)


def _count(session: Session, job_id: str, state: AttemptState) -> int:
    session.flush()
    return len(
        session.scalars(
            select(Attempt.number).where(Attempt.job_id == job_id, Attempt.state == state.value)
        ).all()
    )


def _retry(job: Job, now: dt.datetime, *, delay_s: float, error: str | None) -> None:
    job.state = transition(job.state, JobState.RETRYING).value
    job.not_before = now + dt.timedelta(seconds=delay_s)
    job.error = error[:MAX_ERROR_LENGTH] if error else None
    job.site = None


def _finish(job: Job, state: JobState, now: dt.datetime, error: str | None) -> None:
    job.state = transition(job.state, state).value
    job.finished_at = now
    job.error = error[:MAX_ERROR_LENGTH] if error else None


def is_ended(state: str) -> bool:
    return AttemptState(state) in ATTEMPT_ENDED
