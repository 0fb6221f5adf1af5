"""job checkpoints kept across attempts

A training job's worker stores checkpoints (blobs) through its job token; a new attempt reads
the newest one of the job, whatever attempt wrote it.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from corridor.store.base import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compute_checkpoints",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["compute_jobs.id"],
            name=op.f("fk_compute_checkpoints_job_id_compute_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "attempt", "step", name=op.f("pk_compute_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("compute_checkpoints")
