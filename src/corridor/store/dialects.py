"""What differs between the metadata store's backends, in one table with one entry per backend.

Code that needs backend-specific SQL asks `dialect_of(session)` (or looks a name up in
`DIALECTS`) instead of testing ``dialect.name == "postgresql"`` where it stands, so that a new
backend is one entry here and the differences can be read side by side:

- ``insert``: an INSERT that takes ``ON CONFLICT`` clauses (both dialects spell it alike, but
  each has its own construct);
- ``like`` / ``ilike``: MLflow's LIKE, case-sensitive and reading a backslash literally.
  SQLite's LIKE ignores case, so the case-sensitive one is a GLOB; PostgreSQL reads a backslash
  in a pattern as an escape, so it is doubled;
- ``json_object`` / ``json_array_agg`` / ``json_parse`` / ``float_text``: JSON written by the
  database (a reply built without a Python object per row). SQLite's ``json_group_array`` takes
  no ``ORDER BY`` before 3.44, so it aggregates in the order of the ordered subquery it reads.
  SQLite writes a REAL as text (and in JSON) with 15 digits, so ``float_text`` prints 17, which
  read back as the same float; PostgreSQL prints float8 exactly (its shortest form, when
  ``extra_float_digits`` is at least 1, the default). PostgreSQL's ``json_agg`` of no rows is
  NULL, hence the ``'[]'``. ``json_replies`` says whether a reply is written this way at all;
- ``utc_date``: a timestamp's UTC calendar day as ``YYYY-MM-DD`` text, for roll-ups by day.
  SQLite holds timestamps as UTC text (`UTCDateTime` converts before writing); PostgreSQL's
  ``timestamptz`` is turned to UTC first, whatever the session's time zone;
- ``transaction_lock`` / ``snapshot``: serialising writers on a key (SQLite's writers are
  serialised already; PostgreSQL takes a transaction-scoped advisory lock), and one snapshot
  for a read of several statements (PostgreSQL's READ COMMITTED takes one per statement);
- ``alter_in_batches``: Alembic's batch mode, which alters a SQLite table by copying it;
- ``migration_connection``: the connection migrations run on, held under a lock that makes
  concurrent starts migrate once (a file lock beside the SQLite file, or a PostgreSQL advisory
  lock on the connection).
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    and_,
    case,
    cast,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.orm import Session

from corridor.errors import ConfigurationError

# An arbitrary constant that names Corridor's migration lock among PostgreSQL advisory locks.
_PG_MIGRATION_LOCK = 0x636F7272

Insert = sqlite_dialect.Insert | postgresql.Insert
Pattern = Callable[[Any, str], ColumnElement[bool]]
# Columns and SQL expressions are untyped here, as in `sqlalchemy.func`.
JsonAggregate = Callable[..., ColumnElement[Any]]


@dataclass(frozen=True)
class Dialect:
    """One backend's way of saying what the others say differently (see the module docstring)."""

    name: str
    # Takes a Table or a mapped class, as `sqlalchemy.insert` does.
    insert: Callable[[Any], Insert]
    like: Pattern
    ilike: Pattern
    migration_connection: Callable[[str, Engine], AbstractContextManager[Connection]]
    # json_object(key, value, key, value...); keys are SQL string constants (`json_key`).
    json_object: Callable[..., ColumnElement[Any]]
    # json_array_agg(element, *order_by): the elements of the rows read, as a JSON array.
    json_array_agg: JsonAggregate
    # json_parse(text): JSON text as a JSON value (embedded as is, not as a string).
    json_parse: Callable[[Any], ColumnElement[Any]]
    # Whether a reply is better written by its JSON functions than built in Python from rows:
    # they write JSON as pydantic-core does, numbers aside (no spaces, the same escapes in
    # strings: ``\n``, ``\"``, ``\u001f``, no others), and faster than Python builds it.
    json_replies: bool
    # transaction_lock(conn, key): serialise writers on ``key`` until the transaction ends.
    transaction_lock: Callable[[Connection, int], None]
    # Execution options of a read that must see one snapshot over several statements.
    snapshot: Mapping[str, str]
    # Whether Alembic alters a table by copying it (SQLite alters little in place).
    alter_in_batches: bool
    # float_text(column): a float as text that reads back as the same float, and as a float
    # (with a decimal point or an exponent: JSON readers take ``8`` for an integer).
    float_text: Callable[[Any], ColumnElement[str]]
    # utc_date(column): the UTC day of a timestamp column as YYYY-MM-DD text.
    utc_date: Callable[[Any], ColumnElement[str]]


def _lock_nothing(conn: Connection, key: int) -> None:
    """Nothing to do: ``Database.write()`` began the transaction with ``BEGIN IMMEDIATE``, which
    already serialises writers."""


def _pg_transaction_lock(conn: Connection, key: int) -> None:
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def json_key(name: str) -> ColumnElement[str]:
    """A key of a JSON object written by the database: a constant, not a bound parameter."""
    if not name.isidentifier():
        raise ValueError(f"{name!r} is not a plain JSON key")
    return literal_column(f"'{name}'")


def _pg_json_array_agg(element: Any, *order_by: Any) -> ColumnElement[Any]:
    ordered = postgresql.aggregate_order_by(element, *order_by) if order_by else element
    return func.coalesce(func.json_agg(ordered), literal_column("'[]'::json"))


def like_as_glob(pattern: str) -> str:
    """A SQL LIKE pattern as a SQLite GLOB pattern (SQLite's LIKE ignores case; GLOB does not)."""
    out = []
    for char in pattern:
        out.append(
            {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}.get(char, char),
        )
    return "".join(out)


def _literal_backslash(pattern: str) -> str:
    return pattern.replace("\\", "\\\\")


@contextmanager
def _sqlite_migration_connection(url: str, engine: Engine) -> Iterator[Connection]:
    path = url.split(":///", 1)[-1]
    if not path or path == ":memory:":
        with engine.connect() as conn:
            yield conn
        return
    with open(path + ".migrate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _postgresql_migration_connection(url: str, engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        try:
            yield conn
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
            conn.commit()


def _pg_float_text(column: Any) -> ColumnElement[str]:
    as_text = cast(column, String())
    point: ColumnElement[str] = literal_column("'.'")
    exponent: ColumnElement[str] = literal_column("'e'")
    integral = and_(func.strpos(as_text, point) == 0, func.strpos(as_text, exponent) == 0)
    return case((integral, as_text + literal_column("'.0'")), else_=as_text)


DIALECTS: dict[str, Dialect] = {
    "sqlite": Dialect(
        name="sqlite",
        insert=sqlite_dialect.insert,
        like=lambda column, pattern: column.op("GLOB")(like_as_glob(pattern)),
        ilike=lambda column, pattern: column.ilike(pattern),
        migration_connection=_sqlite_migration_connection,
        json_object=func.json_object,
        json_array_agg=lambda element, *_order_by: func.json_group_array(element),
        json_parse=func.json,
        json_replies=True,
        transaction_lock=_lock_nothing,
        # In WAL mode a read transaction sees one snapshot from its first read on.
        snapshot={},
        alter_in_batches=True,
        float_text=lambda column: func.printf(literal_column("'%!.17g'"), column),
        utc_date=lambda column: func.strftime(literal_column("'%Y-%m-%d'"), column),
    ),
    "postgresql": Dialect(
        name="postgresql",
        insert=postgresql.insert,
        like=lambda column, pattern: column.like(_literal_backslash(pattern)),
        ilike=lambda column, pattern: column.ilike(_literal_backslash(pattern)),
        migration_connection=_postgresql_migration_connection,
        json_object=func.json_build_object,
        json_array_agg=_pg_json_array_agg,
        json_parse=lambda value: cast(value, postgresql.JSON()),
        # It spaces its JSON, and its JSON functions over correlated subqueries took longer than
        # reading the rows (a run search of 300 runs: 9-13 ms against 6 ms).
        json_replies=False,
        transaction_lock=_pg_transaction_lock,
        # READ COMMITTED takes a fresh snapshot per statement.
        snapshot={"isolation_level": "REPEATABLE READ"},
        alter_in_batches=False,
        float_text=_pg_float_text,
        utc_date=lambda column: func.to_char(
            func.timezone(literal_column("'UTC'"), column), literal_column("'YYYY-MM-DD'")
        ),
    ),
}


def dialect_named(name: str) -> Dialect:
    """The entry for the backend SQLAlchemy calls ``name``."""
    try:
        return DIALECTS[name]
    except KeyError:
        known = ", ".join(DIALECTS)
        raise ConfigurationError(f"database dialect {name!r} is not one of {known}") from None


def dialect_of(session: Session) -> Dialect:
    """The entry for the backend ``session`` is bound to."""
    return dialect_named(session.get_bind().dialect.name)
