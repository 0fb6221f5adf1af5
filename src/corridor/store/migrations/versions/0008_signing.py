"""model-package signing keys and signatures

Packages stored before this revision have no signature yet: the server signs them as it starts
(and ``corridor admin signing-key sign-missing`` does the same on demand).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from corridor.store.base import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("private_key_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("retired_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_keys")),
    )
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signing_keys_retired_at"), ["retired_at"])
    op.create_table(
        "package_signatures",
        sa.Column("package_digest", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("bundle", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["signing_keys.id"],
            name=op.f("fk_package_signatures_key_id_signing_keys"),
        ),
        sa.PrimaryKeyConstraint("package_digest", name=op.f("pk_package_signatures")),
    )
    with op.batch_alter_table("package_signatures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_package_signatures_key_id"), ["key_id"])


def downgrade() -> None:
    with op.batch_alter_table("package_signatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_package_signatures_key_id"))
    op.drop_table("package_signatures")
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signing_keys_retired_at"))
    op.drop_table("signing_keys")
