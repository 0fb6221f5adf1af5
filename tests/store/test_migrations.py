from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.config import Settings
from corridor.home import init_home
from corridor.slices import metadata
from corridor.store import migrate
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


def _row_counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        names = inspect(session.connection()).get_table_names()
        return {
            name: int(session.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())
            for name in names
            if name != "alembic_version"
        }


def _downgrade(db: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__file__).with_name("migrations")))
    with db.write_engine.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()


def test_downgrading_and_upgrading_a_home_keeps_every_row(
    settings: Settings, tmp_path: Path
) -> None:
    """A migration that copies a table to change it (Alembic's batch mode on SQLite) drops the
    original, and ON DELETE CASCADE empties what references it: a home upgraded that way
    would lose its datasets, runs and models. Revisions after the compute slice's change
    tables in place."""
    model = tmp_path / "model.json"
    model.write_text('{"weights": [1.0, 2.0], "bias": 0.5}')
    init_home(settings)
    with Client(settings=settings) as client:
        client.create_project("p")
        version = client.register_model(
            "m", model, flavour="corridor.linear", entry="model.json", project="p"
        )
        client.set_alias(version.name, "production", version.version, project="p")
        DataClient(client).ingest(pl.DataFrame({"a": [1, 2, 3]}), "table", project="p")
    database = Database(settings.database_url)
    try:
        before = _row_counts(database)
        _downgrade(database, "0007")
        older = set(_row_counts(database))  # the tables of revision 0007, which both keep
        upgrade(database)
        after = _row_counts(database)
    finally:
        database.dispose()
    assert (before["projects"], before["model_versions"], before["datasets"]) == (1, 1, 1)
    assert {t: before[t] for t in older} == {t: after[t] for t in older}
