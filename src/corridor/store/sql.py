"""SQL every slice shares: inserts that skip or merge existing rows, and id lists in slices.

The backend differences (which INSERT construct takes ON CONFLICT) come from `dialects`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table
from sqlalchemy.orm import Session

from corridor.store.dialects import dialect_of

# SQLite caps the bound parameters of one statement; lists of ids are sent in slices of this.
IN_CHUNK = 500


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` in one executemany; rows whose key exists already are skipped."""
    if rows:
        session.execute(dialect_of(session).insert(table).on_conflict_do_nothing(), list(rows))


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
    update: Sequence[str],
    only_if: Callable[[Any], ColumnElement[bool]] | None = None,
) -> None:
    """Insert ``rows``; where ``key`` exists, set the ``update`` columns (if ``only_if`` holds).

    ``only_if`` receives the statement's ``excluded`` (the row that was to be inserted).
    """
    if not rows:
        return
    stmt = dialect_of(session).insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={c: stmt.excluded[c] for c in update},
        where=only_if(stmt.excluded) if only_if is not None else None,
    )
    session.execute(stmt, list(rows))


def chunks(values: Sequence[Any], size: int = IN_CHUNK) -> list[Sequence[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
