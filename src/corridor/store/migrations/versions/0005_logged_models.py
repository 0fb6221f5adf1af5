"""logged models: MLflow 3's logged models, their tags, params and files, and run outputs

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logged_models",
        sa.Column("model_id", sa.String(length=34), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("source_run_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model_type", sa.String(length=500), nullable=True),
        sa.Column("artifact_location", sa.String(length=1000), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=32), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_logged_models_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_logged_models")),
    )
    with op.batch_alter_table("logged_models", schema=None) as batch_op:
        batch_op.create_index(
            "ix_logged_models_experiment_id_creation_time",
            ["experiment_id", "creation_time"],
            unique=False,
        )

    for table, value_length in (("logged_model_params", 6000), ("logged_model_tags", 8000)):
        op.create_table(
            table,
            sa.Column("model_id", sa.String(length=34), nullable=False),
            sa.Column("key", sa.String(length=250), nullable=False),
            sa.Column("value", sa.String(length=value_length), nullable=False),
            sa.ForeignKeyConstraint(
                ["model_id"],
                ["logged_models.model_id"],
                name=op.f(f"fk_{table}_model_id_logged_models"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("model_id", "key", name=op.f(f"pk_{table}")),
        )
    op.create_table(
        "logged_model_artifacts",
        sa.Column("model_id", sa.String(length=34), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            name=op.f("fk_logged_model_artifacts_model_id_logged_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "path", name=op.f("pk_logged_model_artifacts")),
    )
    op.create_table(
        "run_model_outputs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=34), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            name=op.f("fk_run_model_outputs_model_id_logged_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_id"],
            name=op.f("fk_run_model_outputs_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "model_id", "step", name=op.f("pk_run_model_outputs")),
    )
    with op.batch_alter_table("run_model_outputs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_run_model_outputs_model_id"), ["model_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("run_model_outputs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_model_outputs_model_id"))

    op.drop_table("run_model_outputs")
    op.drop_table("logged_model_artifacts")
    op.drop_table("logged_model_tags")
    op.drop_table("logged_model_params")
    with op.batch_alter_table("logged_models", schema=None) as batch_op:
        batch_op.drop_index("ix_logged_models_experiment_id_creation_time")

    op.drop_table("logged_models")
