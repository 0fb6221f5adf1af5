"""Statements compiled once per database dialect and run on the driver with plain tuples.

Tracking's bulk paths (a batch of metric points in, a metric's history out) move thousands of
rows a request, and there SQLAlchemy's per-row parameter and result processing costs more than
the database does. A `Prepared` statement skips it: it is compiled once per dialect, takes its
parameters as a tuple in the order it was declared with, and returns the driver's rows. So it
may only carry values every driver takes as they are: ``str``, ``int``, ``float``, ``bool``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from corridor.store.dialects import Insert, dialect_named

Row = tuple[Any, ...]
# Builds the statement for a dialect, by name: ON CONFLICT clauses are dialect constructs.
Builder = Callable[[str], ClauseElement]


def insert_for(dialect: str, table: Table) -> Insert:
    """An INSERT into ``table`` that can take ``ON CONFLICT`` clauses on ``dialect``."""
    return dialect_named(dialect).insert(table)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Positional drivers (SQLite's ``?``): where each placeholder's value comes from, an index
    # into the caller's tuple or, for a value the statement holds itself (``OFFSET 0``), None.
    slots: tuple[tuple[int | None, Any], ...] | None
    # Named drivers (psycopg's ``%(name)s``): values the statement holds itself.
    fixed: dict[str, Any]

    @property
    def takes_rows_as_they_are(self) -> bool:
        return self.slots is not None and all(i == n for n, (i, _) in enumerate(self.slots))


class Prepared:
    """The statement ``build`` makes, with bind parameters ``params``, for any dialect."""

    def __init__(self, build: Builder, params: Sequence[str]) -> None:
        self.build = build
        self.params = tuple(params)
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        with self._lock:
            statement = self.build(dialect.name)
            compiled = cast(
                SQLCompiler, statement.compile(dialect=dialect, column_keys=list(self.params))
            )
            fixed = {
                name: bind.effective_value
                for name, bind in compiled.binds.items()
                if name not in self.params
            }
            slots = None
            if compiled.positional:
                slots = tuple(
                    (self.params.index(name), None) if name in self.params else (None, fixed[name])
                    for name in compiled.positiontup or ()
                )
            found = self._compiled[dialect.name] = _Compiled(compiled.string, slots, fixed)
        return found

    def _bind(self, compiled: _Compiled, row: Row) -> Row | dict[str, Any]:
        if compiled.slots is None:
            return {**compiled.fixed, **dict(zip(self.params, row, strict=True))}
        return tuple(row[i] if i is not None else value for i, value in compiled.slots)

    def executemany(self, conn: Connection, rows: Sequence[Row]) -> None:
        """Run the statement once per row, in one round of the driver's ``executemany``."""
        if not rows:
            return
        compiled = self._for(conn.dialect)
        if compiled.takes_rows_as_they_are:
            params: list[Any] = list(rows)
        else:
            params = [self._bind(compiled, row) for row in rows]
        conn.exec_driver_sql(compiled.sql, params)

    def fetchall(self, conn: Connection, row: Row) -> list[Row]:
        """Run the statement with ``row`` as its parameters and return every result row."""
        compiled = self._for(conn.dialect)
        result = conn.exec_driver_sql(compiled.sql, self._bind(compiled, row))
        try:
            # The driver's own rows: SQLAlchemy's Row objects would cost more than the query.
            return list(result.cursor.fetchall())
        finally:
            result.close()
