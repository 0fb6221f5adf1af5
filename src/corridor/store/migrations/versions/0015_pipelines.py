"""pipelines: definitions, runs, step runs, schedules, triggers, the loop's lease; run tokens

``pipeline_step_runs`` is unique by (run_id, key), which makes the driver's retried begin calls
idempotent; ``pipeline_runs`` is unique by (schedule_id, schedule_fire), so that a schedule's
fire makes one run across restarts and leaders. ``tokens.project_scope`` and
``tokens.pipeline_run_id`` mark a pipeline run's token: it acts as its user in one project only.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from corridor.store.base import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_loop_lease",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_pipeline_loop_lease")),
    )
    op.create_table(
        "pipelines",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("module", sa.String(length=512), nullable=False),
        sa.Column("qualname", sa.String(length=512), nullable=False),
        sa.Column("snapshot", sa.String(length=64), nullable=True),
        sa.Column("params_spec", sa.JSON(), nullable=False),
        sa.Column("on_failure", sa.String(length=16), nullable=False),
        sa.Column("max_concurrent_runs", sa.Integer(), nullable=True),
        sa.Column("run_counter", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_pipelines_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_pipelines_project_id")),
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("graph", sa.JSON(), nullable=True),
        sa.Column("snapshot", sa.String(length=64), nullable=True),
        sa.Column("module", sa.String(length=512), nullable=False),
        sa.Column("qualname", sa.String(length=512), nullable=False),
        sa.Column("driver", sa.String(length=8), nullable=False),
        sa.Column("driver_job_id", sa.String(length=32), nullable=True),
        sa.Column("run_token_id", sa.String(length=32), nullable=True),
        sa.Column("driver_seen_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("trigger_detail", sa.JSON(), nullable=False),
        sa.Column("schedule_id", sa.String(length=32), nullable=True),
        sa.Column("schedule_fire", UTCDateTime(timezone=True), nullable=True),
        sa.Column("no_cache", sa.Boolean(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("on_failure", sa.String(length=16), nullable=False),
        sa.Column("result_digest", sa.String(length=64), nullable=True),
        sa.Column("result_kind", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_by_user_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_pipeline_runs_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_pipeline_runs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_runs")),
        sa.UniqueConstraint("pipeline_id", "number", name=op.f("uq_pipeline_runs_pipeline_id")),
        sa.UniqueConstraint(
            "schedule_id", "schedule_fire", name=op.f("uq_pipeline_runs_schedule_id")
        ),
    )
    op.create_index(
        "ix_pipeline_runs_project_id_created_at",
        "pipeline_runs",
        ["project_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_pipeline_runs_state_pipeline_id",
        "pipeline_runs",
        ["state", "pipeline_id"],
        unique=False,
    )

    op.create_table(
        "pipeline_schedules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("cron", sa.String(length=256), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("missed", sa.String(length=8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_fire_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_fire_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_by_user_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_pipeline_schedules_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_schedules")),
    )
    op.create_index(
        "ix_pipeline_schedules_enabled_next_fire_at",
        "pipeline_schedules",
        ["enabled", "next_fire_at"],
        unique=False,
    )

    op.create_table(
        "pipeline_triggers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("dataset", sa.String(length=128), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("alias", sa.String(length=128), nullable=True),
        sa.Column("param", sa.String(length=128), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("last_seen", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_by_user_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_pipeline_triggers_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_triggers")),
    )
    op.create_index(
        "ix_pipeline_triggers_pipeline_id", "pipeline_triggers", ["pipeline_id"], unique=False
    )

    op.create_table(
        "pipeline_step_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("step", sa.String(length=128), nullable=False),
        sa.Column("parent_key", sa.String(length=200), nullable=True),
        sa.Column("item_index", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("in_process", sa.Boolean(), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=True),
        sa.Column("code_digest", sa.String(length=64), nullable=True),
        sa.Column("cached_from", sa.String(length=32), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("output_digest", sa.String(length=64), nullable=True),
        sa.Column("output_kind", sa.String(length=32), nullable=True),
        sa.Column("output_size", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("logs_digest", sa.String(length=64), nullable=True),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["pipeline_runs.id"],
            name=op.f("fk_pipeline_step_runs_run_id_pipeline_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_step_runs")),
        sa.UniqueConstraint("run_id", "key", name=op.f("uq_pipeline_step_runs_run_id")),
    )
    op.create_index("ix_pipeline_step_runs_job_id", "pipeline_step_runs", ["job_id"], unique=False)
    op.create_index(
        "ix_pipeline_step_runs_project_id_cache_key",
        "pipeline_step_runs",
        ["project_id", "cache_key"],
        unique=False,
    )
    op.create_index(
        "ix_pipeline_step_runs_project_id_code_digest",
        "pipeline_step_runs",
        ["project_id", "code_digest"],
        unique=False,
    )

    # In place (see 0009): a batch copy of tokens is not needed to add nullable columns.
    op.add_column("tokens", sa.Column("project_scope", sa.String(length=32), nullable=True))
    op.add_column("tokens", sa.Column("pipeline_run_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    # In place (SQLite has dropped columns natively since 3.35), as 0014 does.
    op.execute("ALTER TABLE tokens DROP COLUMN pipeline_run_id")
    op.execute("ALTER TABLE tokens DROP COLUMN project_scope")

    op.drop_index("ix_pipeline_step_runs_project_id_code_digest", table_name="pipeline_step_runs")
    op.drop_index("ix_pipeline_step_runs_project_id_cache_key", table_name="pipeline_step_runs")
    op.drop_index("ix_pipeline_step_runs_job_id", table_name="pipeline_step_runs")

    op.drop_table("pipeline_step_runs")
    op.drop_index("ix_pipeline_triggers_pipeline_id", table_name="pipeline_triggers")

    op.drop_table("pipeline_triggers")
    op.drop_index("ix_pipeline_schedules_enabled_next_fire_at", table_name="pipeline_schedules")

    op.drop_table("pipeline_schedules")
    op.drop_index("ix_pipeline_runs_state_pipeline_id", table_name="pipeline_runs")
    op.drop_index("ix_pipeline_runs_project_id_created_at", table_name="pipeline_runs")

    op.drop_table("pipeline_runs")
    op.drop_table("pipelines")
    op.drop_table("pipeline_loop_lease")
