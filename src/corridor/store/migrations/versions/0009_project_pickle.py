"""a per-project switch that lets loaders unpickle

Every existing project starts with pickle refused, whatever it held before: a server admin
opts a project in (``corridor admin pickle allow PROJECT``).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place, never as a batch copy of the table: dropping the old copy would cascade to
    # every row that references a project (datasets, runs, models...) on SQLite.
    op.add_column(
        "projects",
        sa.Column("allow_pickle", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # In place (SQLite has dropped columns natively since 3.35): a batch copy of the table
    # would drop the original, and its foreign keys' ON DELETE CASCADE would empty the tables
    # that reference it.
    op.execute("ALTER TABLE projects DROP COLUMN allow_pickle")
