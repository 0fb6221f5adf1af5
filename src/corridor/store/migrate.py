"""Apply Alembic migrations on start, one process at a time."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from corridor.store.db import Database

_MIGRATIONS = Path(__file__).with_name("migrations")
# An arbitrary constant that names Corridor's migration lock among PostgreSQL advisory locks.
_PG_LOCK_KEY = 0x636F7272


def _config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.read_engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _sqlite_file_lock(db: Database) -> Iterator[None]:
    path = db.url.split(":///", 1)[-1]
    if not path or path == ":memory:":
        yield
        return
    with open(path + ".migrate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision; concurrent callers wait for the first."""
    if current_revision(db) == head_revision():
        return
    if db.is_sqlite:
        with _sqlite_file_lock(db), db.write_engine.connect() as conn:
            command.upgrade(_config(conn), "head")
            conn.commit()
        return
    with db.write_engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
        try:
            command.upgrade(_config(conn), "head")
            conn.commit()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
