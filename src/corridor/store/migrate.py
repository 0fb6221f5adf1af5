"""Apply Alembic migrations on start, one process at a time (the lock is the dialect's)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from corridor.store.db import Database
from corridor.store.dialects import dialect_named

_MIGRATIONS = Path(__file__).with_name("migrations")


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


def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision; concurrent callers wait for the first."""
    if current_revision(db) == head_revision():
        return
    dialect = dialect_named(db.write_engine.dialect.name)
    with dialect.migration_connection(db.url, db.write_engine) as conn:
        command.upgrade(_config(conn), "head")
        conn.commit()
