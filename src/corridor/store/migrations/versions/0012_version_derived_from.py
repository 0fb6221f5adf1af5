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
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("derived_from", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("derived_from")
