"""hyperparameter studies and trials

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from corridor.store.base import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tuning_studies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("directions", sa.String(length=2000), nullable=False),
        sa.Column("user_attrs", sa.Text(), nullable=False),
        sa.Column("system_attrs", sa.Text(), nullable=False),
        sa.Column("distributions", sa.Text(), nullable=False),
        sa.Column("trial_count", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_tuning_studies_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tuning_studies")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_tuning_studies_project_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_tuning_studies_project_id"), "tuning_studies", ["project_id"], unique=False
    )
    op.create_table(
        "tuning_trials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("values_json", sa.Text(), nullable=True),
        sa.Column("params_json", sa.Text(), nullable=False),
        sa.Column("intermediate_json", sa.Text(), nullable=False),
        sa.Column("user_attrs", sa.Text(), nullable=False),
        sa.Column("system_attrs", sa.Text(), nullable=False),
        sa.Column("datetime_start", UTCDateTime(timezone=True), nullable=True),
        sa.Column("datetime_complete", UTCDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["tuning_studies.id"],
            name=op.f("fk_tuning_trials_study_id_tuning_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tuning_trials")),
        sa.UniqueConstraint("study_id", "number", name=op.f("uq_tuning_trials_study_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_tuning_trials_study_id"), "tuning_trials", ["study_id"], unique=False)
    op.create_index(op.f("ix_tuning_trials_version"), "tuning_trials", ["version"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_tuning_trials_version"), table_name="tuning_trials")
    op.drop_index(op.f("ix_tuning_trials_study_id"), table_name="tuning_trials")
    op.drop_table("tuning_trials")
    op.drop_index(op.f("ix_tuning_studies_project_id"), table_name="tuning_studies")
    op.drop_table("tuning_studies")
