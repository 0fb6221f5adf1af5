"""What differs between the metadata store's backends, in one table with one entry per backend.

Code that needs backend-specific SQL asks `dialect_of(session)` (or looks a name up in
`DIALECTS`) instead of testing ``dialect.name == "postgresql"`` where it stands, so that a new
backend is one entry here and the differences can be read side by side:

- ``insert``: an INSERT that takes ``ON CONFLICT`` clauses (both dialects spell it alike, but
  each has its own construct);
- ``like`` / ``ilike``: MLflow's LIKE, case-sensitive and reading a backslash literally.
  SQLite's LIKE ignores case, so the case-sensitive one is a GLOB; PostgreSQL reads a backslash
  in a pattern as an escape, so it is doubled;
- ``migration_connection``: the connection migrations run on, held under a lock that makes
  concurrent starts migrate once (a file lock beside the SQLite file, or a PostgreSQL advisory
  lock on the connection).
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.orm import Session

from corridor.errors import ConfigurationError

# An arbitrary constant that names Corridor's migration lock among PostgreSQL advisory locks.
_PG_MIGRATION_LOCK = 0x636F7272

Insert = sqlite_dialect.Insert | postgresql.Insert
Pattern = Callable[[Any, str], ColumnElement[bool]]


@dataclass(frozen=True)
class Dialect:
    """One backend's way of saying what the others say differently (see the module docstring)."""

    name: str
    # Takes a Table or a mapped class, as `sqlalchemy.insert` does.
    insert: Callable[[Any], Insert]
    like: Pattern
    ilike: Pattern
    migration_connection: Callable[[str, Engine], AbstractContextManager[Connection]]


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


DIALECTS: dict[str, Dialect] = {
    "sqlite": Dialect(
        name="sqlite",
        insert=sqlite_dialect.insert,
        like=lambda column, pattern: column.op("GLOB")(like_as_glob(pattern)),
        ilike=lambda column, pattern: column.ilike(pattern),
        migration_connection=_sqlite_migration_connection,
    ),
    "postgresql": Dialect(
        name="postgresql",
        insert=postgresql.insert,
        like=lambda column, pattern: column.like(_literal_backslash(pattern)),
        ilike=lambda column, pattern: column.ilike(_literal_backslash(pattern)),
        migration_connection=_postgresql_migration_connection,
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
