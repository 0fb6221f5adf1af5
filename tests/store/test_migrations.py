from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from corridor.store.db import Database
from corridor.store.migrate import current_revision, head_revision, upgrade
from corridor.store.tables import metadata


def test_migrations_reach_head_and_match_the_models(db: Database) -> None:
    assert current_revision(db) == head_revision()
    with db.read_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_upgrade_twice_is_a_no_op(db: Database) -> None:
    upgrade(db)
    assert current_revision(db) == head_revision()
