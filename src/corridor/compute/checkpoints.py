"""Job checkpoints: blobs a job's worker stores and a later attempt of the same job reads.

A checkpoint is opaque here (the trainer's format is its own); the row says which job, which
attempt wrote it, and the job's progress count (``step``). The newest is the highest
``(attempt, step)``, so a retry that resumed from step 40 and wrote step 60 supersedes the
failed attempt's step 50. Only the newest ``KEEP`` rows of a job are kept: older blobs lose
their last reference and go with the blob sweep. Rows go with their job (cascade).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from corridor.compute.models import Checkpoint
from corridor.errors import NotFound
from corridor.store.base import utcnow

KEEP = 2


def store(
    session: Session, job_id: str, attempt: int, *, step: int, digest: str, size_bytes: int
) -> Checkpoint:
    """Record checkpoint ``step`` of ``attempt`` (again: the newer blob wins); prune old ones."""
    row = session.get(Checkpoint, (job_id, attempt, step))
    if row is None:
        row = Checkpoint(job_id=job_id, attempt=attempt, step=step)
        session.add(row)
    row.digest = digest
    row.size_bytes = size_bytes
    row.created_at = utcnow()
    session.flush()
    keep = session.execute(
        select(Checkpoint.attempt, Checkpoint.step)
        .where(Checkpoint.job_id == job_id)
        .order_by(Checkpoint.attempt.desc(), Checkpoint.step.desc())
        .limit(KEEP)
    ).all()
    oldest_attempt, oldest_step = keep[-1]
    session.execute(
        delete(Checkpoint).where(
            Checkpoint.job_id == job_id,
            (Checkpoint.attempt < oldest_attempt)
            | ((Checkpoint.attempt == oldest_attempt) & (Checkpoint.step < oldest_step)),
        )
    )
    return row


def newest(session: Session, job_id: str) -> Checkpoint:
    """The job's newest checkpoint, whatever attempt wrote it; NotFound if it has none."""
    row = session.scalar(
        select(Checkpoint)
        .where(Checkpoint.job_id == job_id)
        .order_by(Checkpoint.attempt.desc(), Checkpoint.step.desc())
        .limit(1)
    )
    if row is None:
        raise NotFound(f"job {job_id} has no checkpoint yet")
    return row
