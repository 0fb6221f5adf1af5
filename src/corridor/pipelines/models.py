"""The pipelines slice's tables: pipelines, their runs, step runs, schedules, triggers, and the
one row that says which server process runs the schedule loop.

A step run is unique by ``(run_id, key)``: the driver's begin and finish calls are retried
through lost answers and server restarts, and this constraint is what makes a retried begin find
the row (and the job) the first one made rather than queue a second job. Step runs carry their
project (``project_id``, copied from the run) so that a cache lookup is one indexed read on
``(project_id, cache_key)`` that never leaves the project. Blob digests (outputs, logs,
results) are plain columns, so the blob sweep reads them as plain queries.
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
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from corridor.store.base import Base, UTCDateTime, new_id, utcnow

MAX_ERROR_LENGTH = 65_536


class Pipeline(Base):
    """A pipeline definition of a project, by name: where its code is and how it runs."""

    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    module: Mapped[str] = mapped_column(String(512))
    qualname: Mapped[str] = mapped_column(String(512))
    # The code snapshot server-started runs use (compute's snapshots table, this project).
    snapshot: Mapped[str | None] = mapped_column(String(64))
    # [ParamSpec as JSON, ...]: runs' params are checked against it server-side.
    params_spec: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    on_failure: Mapped[str] = mapped_column(String(16), default="fail_fast")
    max_concurrent_runs: Mapped[int | None] = mapped_column(Integer)
    # The number the last run got: runs are numbered 1, 2, ... under this row's lock.
    run_counter: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PipelineRun(Base):
    """One execution of a pipeline."""

    __tablename__ = "pipeline_runs"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "number"),
        # One run per schedule fire, across restarts and leaders (both null: not a schedule's).
        UniqueConstraint("schedule_id", "schedule_fire"),
        Index("ix_pipeline_runs_project_id_created_at", "project_id", "created_at"),
        Index("ix_pipeline_runs_state_pipeline_id", "state", "pipeline_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The built graph as the driver posted it (for display; None until it has).
    graph: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    snapshot: Mapped[str | None] = mapped_column(String(64))
    module: Mapped[str] = mapped_column(String(512))
    qualname: Mapped[str] = mapped_column(String(512))
    driver: Mapped[str] = mapped_column(String(8))
    driver_job_id: Mapped[str | None] = mapped_column(String(32))
    run_token_id: Mapped[str | None] = mapped_column(String(32))
    driver_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(16))
    trigger_detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    schedule_id: Mapped[str | None] = mapped_column(String(32))
    schedule_fire: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    no_cache: Mapped[bool] = mapped_column(Boolean, default=False)
    site: Mapped[str | None] = mapped_column(String(64))
    on_failure: Mapped[str] = mapped_column(String(16))
    result_digest: Mapped[str | None] = mapped_column(String(64))
    result_kind: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    # The user whose token a server-started driver acts with (None: the local admin).
    created_by_user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class StepRun(Base):
    """One execution of one step of a run, or of one item of a mapped step."""

    __tablename__ = "pipeline_step_runs"
    __table_args__ = (
        UniqueConstraint("run_id", "key"),
        Index("ix_pipeline_step_runs_project_id_cache_key", "project_id", "cache_key"),
        Index("ix_pipeline_step_runs_project_id_code_digest", "project_id", "code_digest"),
        Index("ix_pipeline_step_runs_job_id", "job_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    step: Mapped[str] = mapped_column(String(128))
    parent_key: Mapped[str | None] = mapped_column(String(200))
    item_index: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    in_process: Mapped[bool] = mapped_column(Boolean, default=False)
    cache_key: Mapped[str | None] = mapped_column(String(64))
    code_digest: Mapped[str | None] = mapped_column(String(64))
    cached_from: Mapped[str | None] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Argument path -> digest of the input's encoding.
    inputs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    output_digest: Mapped[str | None] = mapped_column(String(64))
    output_kind: Mapped[str | None] = mapped_column(String(32))
    output_size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    logs_digest: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PipelineSchedule(Base):
    """A cron schedule of a pipeline, in an IANA time zone."""

    __tablename__ = "pipeline_schedules"
    __table_args__ = (
        Index("ix_pipeline_schedules_enabled_next_fire_at", "enabled", "next_fire_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(32))
    cron: Mapped[str] = mapped_column(String(256))
    timezone: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    missed: Mapped[str] = mapped_column(String(8))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_fire_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_fire_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(128))
    created_by_user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PipelineTrigger(Base):
    """Run a pipeline when a dataset gets a new version or a model's alias moves."""

    __tablename__ = "pipeline_triggers"
    __table_args__ = (Index("ix_pipeline_triggers_pipeline_id", "pipeline_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    dataset: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(256))
    alias: Mapped[str | None] = mapped_column(String(128))
    param: Mapped[str | None] = mapped_column(String(128))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The version number the trigger last saw (dataset version, or the alias's model version).
    last_seen: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_by_user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoopLease(Base):
    """Which server process runs the schedule and trigger loop, until when (one row per name)."""

    __tablename__ = "pipeline_loop_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
