"""sealed reports: report bodies leave the metadata database; rows keep a value-free summary

Report bodies carry cell values (top values, failing rows) and from now on are sealed in the
encrypted blob store (``body_digest``). A migration has no blob store to seal into, so each
existing body is reduced to its summary (names and counts, as `corridor.data.reports.summarise`
keeps them) and the body itself is discarded: such a report must be made again to be read in
full. On SQLite, ``secure_delete`` zeroes the freed pages so the old bodies do not linger in
the file; on PostgreSQL, old row versions remain until ``VACUUM FULL dataset_reports``.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_reports = sa.table(
    "dataset_reports",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("body", sa.JSON()),
    sa.column("summary", sa.JSON()),
)


def _summary(kind: str, body: Any) -> dict[str, Any]:
    # A frozen copy of the rule at this revision: later changes to the code must not change
    # what this migration did.
    body = body if isinstance(body, dict) else {}
    if kind == "validation":
        results = body.get("results") or []
        return {
            "suite": body.get("suite"),
            "row_count": body.get("row_count"),
            "failures": [str(r.get("name")) for r in results if not r.get("passed")],
        }
    if kind == "profile":
        return {"row_count": body.get("row_count")}
    if kind == "pii":
        return {"pii_columns": body.get("pii_columns") or {}, "threshold": body.get("threshold")}
    return {}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("PRAGMA secure_delete = ON")
    with op.batch_alter_table("dataset_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("summary", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("body_digest", sa.String(length=64), nullable=True))
    rows = bind.execute(sa.select(_reports.c.id, _reports.c.kind, _reports.c.body)).all()
    for row in rows:
        bind.execute(
            _reports.update()
            .where(_reports.c.id == row.id)
            .values(summary=_summary(row.kind, row.body))
        )
    with op.batch_alter_table("dataset_reports", schema=None) as batch_op:
        batch_op.alter_column("summary", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("body")


def downgrade() -> None:
    # The bodies are blobs now; a downgrade keeps each row's summary as its body.
    with op.batch_alter_table("dataset_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body", sa.JSON(), nullable=True))
    op.execute(sa.text("UPDATE dataset_reports SET body = summary"))
    with op.batch_alter_table("dataset_reports", schema=None) as batch_op:
        batch_op.alter_column("body", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("body_digest")
        batch_op.drop_column("summary")
