"""tokens limited to invoking one deployment; a change counter for in-memory token views

``tokens.invoke_deployment`` names the one deployment a token may invoke (and nothing else);
``access_changes`` is one row whose counter every change to tokens, users, projects or
memberships bumps in its own transaction, so that a server process can tell with one cheap read
whether its in-memory view of tokens and roles is stale.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place (see 0009): a batch copy of tokens is not needed to add a nullable column.
    op.add_column("tokens", sa.Column("invoke_deployment", sa.String(length=64), nullable=True))
    op.create_table(
        "access_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO access_changes (id, counter) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("access_changes")
    # In place (SQLite has dropped columns natively since 3.35), as 0012 does.
    op.execute("ALTER TABLE tokens DROP COLUMN invoke_deployment")
