"""compute: jobs, attempts, log chunks, code snapshots, the scheduler lease; job tokens

A job token is a row of ``tokens`` with ``job_id`` and ``job_attempt`` set and no user: it acts
as its job's worker, so ``user_id`` becomes nullable.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from corridor.store.base import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("job_attempt", sa.Integer(), nullable=True))
        batch_op.alter_column("user_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.create_index(batch_op.f("ix_tokens_job_id"), ["job_id"], unique=False)

    op.create_table(
        "compute_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("snapshot_digest", sa.String(length=64), nullable=True),
        sa.Column("input_digest", sa.String(length=64), nullable=True),
        sa.Column("cpus", sa.Float(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("gpus", sa.Float(), nullable=False),
        sa.Column("gpu_type", sa.String(length=64), nullable=True),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("site_pin", sa.String(length=64), nullable=True),
        sa.Column("objective", sa.String(length=16), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=True),
        sa.Column("deadline", UTCDateTime(timezone=True), nullable=True),
        sa.Column("deferrable", sa.Boolean(), nullable=False),
        sa.Column("not_before", UTCDateTime(timezone=True), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("backoff_s", sa.Float(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("cancel_requested_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("placed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=4000), nullable=True),
        sa.Column("result_digest", sa.String(length=64), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=True),
        sa.Column("energy_j", sa.Float(), nullable=True),
        sa.Column("energy_method", sa.String(length=64), nullable=True),
        sa.Column("carbon_g", sa.Float(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_compute_jobs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_jobs")),
    )
    with op.batch_alter_table("compute_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_compute_jobs_state_not_before", ["state", "not_before"], unique=False
        )
        batch_op.create_index(
            "ix_compute_jobs_project_id_created_at", ["project_id", "created_at"], unique=False
        )

    op.create_table(
        "compute_attempts",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lease_expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("placed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=4000), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("gpu_indices", sa.JSON(), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=True),
        sa.Column("energy_j", sa.Float(), nullable=True),
        sa.Column("energy_method", sa.String(length=64), nullable=True),
        sa.Column("energy_by_device", sa.JSON(), nullable=True),
        sa.Column("cpu_s", sa.Float(), nullable=True),
        sa.Column("ranks_done", sa.JSON(), nullable=True),
        sa.Column("carbon_g", sa.Float(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["compute_jobs.id"],
            name=op.f("fk_compute_attempts_job_id_compute_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "number", name=op.f("pk_compute_attempts")),
    )
    with op.batch_alter_table("compute_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_compute_attempts_state_lease", ["state", "lease_expires_at"], unique=False
        )

    op.create_table(
        "compute_log_chunks",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["compute_jobs.id"],
            name=op.f("fk_compute_log_chunks_job_id_compute_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "attempt", "seq", name=op.f("pk_compute_log_chunks")),
    )

    op.create_table(
        "compute_snapshots",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("modules", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_compute_snapshots_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "digest", name=op.f("pk_compute_snapshots")),
    )

    op.create_table(
        "compute_scheduler_lease",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_compute_scheduler_lease")),
    )


def downgrade() -> None:
    op.drop_table("compute_scheduler_lease")
    op.drop_table("compute_snapshots")
    op.drop_table("compute_log_chunks")
    with op.batch_alter_table("compute_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_compute_attempts_state_lease")
    op.drop_table("compute_attempts")
    with op.batch_alter_table("compute_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_compute_jobs_project_id_created_at")
        batch_op.drop_index("ix_compute_jobs_state_not_before")
    op.drop_table("compute_jobs")
    # Job tokens have no user: they go before user_id becomes required again.
    op.execute(sa.text("DELETE FROM tokens WHERE user_id IS NULL"))
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_job_id"))
        batch_op.alter_column("user_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_column("job_attempt")
        batch_op.drop_column("job_id")
