from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from corridor.slices import metadata
from corridor.store.db import Database
from corridor.store.migrate import current_revision, head_revision, upgrade


def test_migrations_reach_head_and_match_the_models(db: Database) -> None:
    assert current_revision(db) == head_revision()
    with db.read_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata())
    assert diff == []


def test_upgrade_twice_is_a_no_op(db: Database) -> None:
    upgrade(db)
    assert current_revision(db) == head_revision()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_read_sessions_cannot_write_on_sqlite(db: Database) -> None:
    with pytest.raises(OperationalError, match="readonly"), db.read() as session:
        session.execute(text("CREATE TABLE sneaky (x INTEGER)"))


def test_nested_writes_fail_fast(db: Database) -> None:
    with db.write(), pytest.raises(RuntimeError, match="nested"), db.write():
        pass
