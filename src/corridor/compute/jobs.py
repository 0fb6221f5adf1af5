"""Jobs as users see them: list, get, cancel, and read their logs and results.

Submitting is `corridor.compute.submission` (check everything, then one write); what workers and
the clock change is `corridor.compute.attempts`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from corridor.compute.models import Attempt, Checkpoint, Job, LogChunk, Snapshot
from corridor.compute.sansio import states
from corridor.compute.sansio.states import JobState
from corridor.compute.schemas import FunctionRefOut, JobOut
from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.search import page_tokens
from corridor.security.models import Project

MAX_LIST = 1000
PAGE_KIND = "compute-jobs"


def job_out(job: Job, project: str) -> JobOut:
    spec = job.spec or {}
    function = spec.get("function")
    return JobOut(
        id=job.id,
        project=project,
        name=job.name,
        kind="function" if job.kind == "function" else "command",
        state=job.state,
        command=spec.get("argv"),
        function=FunctionRefOut.model_validate(function) if function else None,
        env_names=sorted(spec.get("env") or {}),
        snapshot=job.snapshot_digest,
        has_input=job.input_digest is not None,
        has_result=job.result_digest is not None,
        cpus=job.cpus,
        memory_bytes=job.memory_bytes,
        gpus=job.gpus,
        gpu_type=job.gpu_type,
        workers=job.workers,
        priority=job.priority,
        site_pin=job.site_pin,
        objective=job.objective,
        datasets=[str(d.get("ref")) for d in spec.get("datasets") or []],
        regions=job.regions,
        deadline=job.deadline,
        deferrable=job.deferrable,
        not_before=job.not_before,
        retries=job.retries,
        backoff_s=job.backoff_s,
        timeout_s=job.timeout_s,
        cancel_requested=job.cancel_requested,
        attempts=job.attempts,
        site=job.site,
        run_id=job.run_id,
        created_by=job.created_by,
        created_at=job.created_at,
        placed_at=job.placed_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        exit_code=job.exit_code,
        error=job.error,
        energy_j=job.energy_j,
        energy_method=job.energy_method,
        carbon_g=job.carbon_g,
        cost=job.cost,
    )


def get(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id) if _is_job_id(job_id) else None
    if job is None:
        raise NotFound(f"job {job_id!r} not found")
    return job


def _is_job_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def project_of_job(session: Session, job_id: str) -> str:
    """The name of the project job ``job_id`` belongs to (for authorisation)."""
    name = (
        session.scalar(
            select(Project.name).join(Job, Job.project_id == Project.id).where(Job.id == job_id)
        )
        if _is_job_id(job_id)
        else None
    )
    if name is None:
        raise NotFound(f"job {job_id!r} not found")
    return name


def job_projects(ids: Sequence[str]) -> Select[str, str]:
    """``(job id, project id)`` of the jobs among ``ids`` (lineage's owner query)."""
    return select(Job.id, Job.project_id).where(Job.id.in_(ids))


def list_jobs(
    session: Session,
    project: Project,
    *,
    state: str | None,
    limit: int,
    page_token: str | None,
) -> tuple[list[JobOut], str | None]:
    """A page of the project's jobs, newest first, and the token of the next page."""
    if state is not None and state not in {s.value for s in JobState}:
        raise InvalidInput(f"state {state!r} is not one of {', '.join(s.value for s in JobState)}")
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}")
    query_key = page_tokens.query_digest(project.id, state)
    query = select(Job).where(Job.project_id == project.id)
    if state is not None:
        query = query.where(Job.state == state)
    if page_token:
        position = page_tokens.decode(page_token, PAGE_KIND, query_key)
        try:
            after_at = dt.datetime.fromisoformat(str(position["created_at"]))
            after_id = str(position["id"])
        except (KeyError, ValueError):
            raise InvalidInput("page_token is not a token of this listing") from None
        query = query.where(
            or_(
                Job.created_at < after_at,
                and_(Job.created_at == after_at, Job.id < after_id),
            )
        )
    rows = list(
        session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1))
    )
    next_token = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_token = page_tokens.encode(
            PAGE_KIND, query_key, {"created_at": last.created_at.isoformat(), "id": last.id}
        )
    return [job_out(j, project.name) for j in rows], next_token


def cancel(session: Session, job_id: str, *, now: dt.datetime) -> Job:
    """Cancel a job: at once unless a worker runs it, else ask the worker (it kills the tree)."""
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if job is None:
        raise NotFound(f"job {job_id!r} not found")
    state = JobState(job.state)
    if state is JobState.CANCELLED:
        return job
    if state in states.TERMINAL:
        raise Conflict(f"job {job_id} has already ended ({state}); there is nothing to cancel")
    if state is JobState.RUNNING:
        if not job.cancel_requested:
            job.cancel_requested = True
            job.cancel_requested_at = now
        return job
    # Queued, retrying or placed (its worker has not reported in): nothing runs yet to wait for.
    job.cancel_requested = True
    job.cancel_requested_at = job.cancel_requested_at or now
    job.state = states.transition(state, JobState.CANCELLED).value
    job.finished_at = now
    if state is JobState.PLACED:
        from corridor.compute import attempts

        attempts.end_current(
            session, job, "cancelled", now=now, error="cancelled before it started"
        )
    return job


# Logs and results.


@dataclass(frozen=True)
class LogSlice:
    data: bytes
    next_offset: int
    attempt: int


def read_logs(
    session: Session, job: Job, *, attempt: int | None, offset: int, max_bytes: int
) -> LogSlice:
    """The attempt's output from byte ``offset`` (at most ``max_bytes``): the latest attempt
    unless one is named."""
    if offset < 0:
        raise InvalidInput("offset must be zero or more")
    number = attempt if attempt is not None else job.attempts
    if attempt is not None and not 1 <= attempt <= max(job.attempts, 1):
        raise NotFound(f"job {job.id} has no attempt {attempt}")
    sizes = session.execute(
        select(LogChunk.seq, LogChunk.size_bytes)
        .where(LogChunk.job_id == job.id, LogChunk.attempt == number)
        .order_by(LogChunk.seq)
    ).all()
    start = 0
    wanted: list[int] = []
    skip = 0
    taken = 0
    for seq, size in sizes:
        end = start + size
        if end > offset and taken < max_bytes:
            if not wanted:
                skip = offset - start
            wanted.append(seq)
            taken += end - max(start, offset)
        start = end
    if not wanted:
        return LogSlice(b"", offset, number)
    chunks = session.scalars(
        select(LogChunk.data)
        .where(LogChunk.job_id == job.id, LogChunk.attempt == number, LogChunk.seq.in_(wanted))
        .order_by(LogChunk.seq)
    )
    data = b"".join(chunks)[skip:]
    return LogSlice(data, offset + len(data), number)


def result_digest(job: Job) -> str:
    if job.state != JobState.SUCCEEDED or job.result_digest is None:
        raise Conflict(
            f"job {job.id} has no result: it is {job.state}"
            + ("" if job.state != JobState.SUCCEEDED else " but stored none (a command job?)")
        )
    return job.result_digest


def attempt_rows(session: Session, job_id: str) -> list[Attempt]:
    return list(
        session.scalars(select(Attempt).where(Attempt.job_id == job_id).order_by(Attempt.number))
    )


def count_by_state(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).tuples().all())


def referenced_blobs() -> list[Select[Any]]:
    """The blobs the compute slice holds: snapshots, function inputs and results, checkpoints.

    A reference source of the blob sweep (`corridor.store.blobs.references`).
    """
    return [
        select(Snapshot.digest),
        select(Job.snapshot_digest).where(Job.snapshot_digest.is_not(None)),
        select(Job.input_digest).where(Job.input_digest.is_not(None)),
        select(Job.result_digest).where(Job.result_digest.is_not(None)),
        select(Checkpoint.digest),
    ]
