"""model versions keep their manifest's derived_from beside scope

Listings show a version's parent without reading its package. Versions registered before this
revision keep ``derived_from`` empty in listings; their manifests still hold it.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place (see 0009): a batch copy of model_versions would cascade to its aliases and tags.
    op.add_column("model_versions", sa.Column("derived_from", sa.String(length=500), nullable=True))


def downgrade() -> None:
    # In place (SQLite has dropped columns natively since 3.35): a batch copy of the table
    # would drop the original, and its foreign keys' ON DELETE CASCADE would empty the tables
    # that reference it.
    op.execute("ALTER TABLE model_versions DROP COLUMN derived_from")
