"""Tables of the compute slice: jobs, their attempts, log chunks, code snapshots, and the one
row that says which server process schedules.

A job row holds everything the scheduler needs to place it without joins (resources, pins,
deadline, state), so the queue is one indexed read on ``(state, not_before)``. An attempt is
one try on one site; only the job's newest attempt may write (fencing), and its
``lease_expires_at`` moves forward with every heartbeat. Blob digests (snapshot, input, result)
are columns, not JSON, so the blob sweep reads them as plain queries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from corridor.store.base import Base, UTCDateTime, new_id, utcnow

MAX_ERROR_LENGTH = 4000


class Job(Base):
    __tablename__ = "compute_jobs"
    __table_args__ = (
        Index("ix_compute_jobs_state_not_before", "state", "not_before"),
        Index("ix_compute_jobs_project_id_created_at", "project_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    # argv | function ref, env, datasets resolved ([{ref, version_id, regions}]).
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    snapshot_digest: Mapped[str | None] = mapped_column(String(64))
    input_digest: Mapped[str | None] = mapped_column(String(64))
    cpus: Mapped[float] = mapped_column(Float)
    memory_bytes: Mapped[int] = mapped_column(BigInteger)
    gpus: Mapped[float] = mapped_column(Float)
    gpu_type: Mapped[str | None] = mapped_column(String(64))
    workers: Mapped[int] = mapped_column(Integer, default=1)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    site_pin: Mapped[str | None] = mapped_column(String(64))
    objective: Mapped[str] = mapped_column(String(16))
    # Regions every dataset the job reads allows (their intersection); None: anywhere.
    regions: Mapped[list[str] | None] = mapped_column(JSON)
    deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deferrable: Mapped[bool] = mapped_column(Boolean, default=False)
    not_before: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    backoff_s: Mapped[float] = mapped_column(Float, default=1.0)
    timeout_s: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    site: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    placed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(MAX_ERROR_LENGTH))
    result_digest: Mapped[str | None] = mapped_column(String(64))
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    energy_j: Mapped[float | None] = mapped_column(Float)
    energy_method: Mapped[str | None] = mapped_column(String(64))
    carbon_g: Mapped[float | None] = mapped_column(Float)
    cost: Mapped[float | None] = mapped_column(Float)


class Attempt(Base):
    __tablename__ = "compute_attempts"
    __table_args__ = (Index("ix_compute_attempts_state_lease", "state", "lease_expires_at"),)

    job_id: Mapped[str] = mapped_column(
        ForeignKey("compute_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    lease_expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(MAX_ERROR_LENGTH))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    gpu_indices: Mapped[list[int]] = mapped_column(JSON, default=list)
    token_id: Mapped[str | None] = mapped_column(String(32))
    energy_j: Mapped[float | None] = mapped_column(Float)
    energy_method: Mapped[str | None] = mapped_column(String(64))
    energy_by_device: Mapped[dict[str, float] | None] = mapped_column(JSON)
    cpu_s: Mapped[float | None] = mapped_column(Float)
    carbon_g: Mapped[float | None] = mapped_column(Float)
    cost: Mapped[float | None] = mapped_column(Float)
    # A gang's ranks that reported success: the attempt succeeds once every rank has.
    ranks_done: Mapped[list[int] | None] = mapped_column(JSON)


class LogChunk(Base):
    """One piece of an attempt's output; readers address the concatenation by byte offset."""

    __tablename__ = "compute_log_chunks"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("compute_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Snapshot(Base):
    """A code snapshot uploaded to a project (the tar.gz is the blob ``digest``)."""

    __tablename__ = "compute_snapshots"

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # Importable module names found in the archive (`pkg/mod.py` -> `pkg.mod`).
    modules: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SchedulerLease(Base):
    """Which server process schedules for this database, until when (one row per name)."""

    __tablename__ = "compute_scheduler_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Checkpoint(Base):
    """A training checkpoint a job's worker stored (the blob ``digest``), kept across attempts so
    that a new attempt resumes from the newest one. ``step`` is the job's own progress count
    (a trainer's global step); the newest is the highest (attempt, step)."""

    __tablename__ = "compute_checkpoints"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("compute_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
