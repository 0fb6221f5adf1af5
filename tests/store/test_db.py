"""The metadata store's transactions: Core and ORM writes, and a busy SQLite store."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select
from sqlalchemy.exc import OperationalError

from corridor.store import db as db_module
from corridor.store.db import Database

_metadata = MetaData()
_rows = Table("db_test_rows", _metadata, Column("id", Integer, primary_key=True))


@pytest.fixture
def rows_db(db: Database) -> Iterator[Database]:
    _metadata.create_all(db.write_engine)
    yield db
    _metadata.drop_all(db.write_engine)


def _count(db: Database) -> int:
    with db.read_connection() as conn:
        return int(conn.execute(select(func.count()).select_from(_rows)).scalar_one())


def test_a_write_connection_commits_together_or_not_at_all(rows_db: Database) -> None:
    with rows_db.write_connection() as conn:
        conn.execute(insert(_rows), [{"id": 1}, {"id": 2}])

    def fail_after_writing() -> None:
        with rows_db.write_connection() as conn:
            conn.execute(insert(_rows), [{"id": 3}])
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError, match="failed"):
        fail_after_writing()
    assert _count(rows_db) == 2


def test_writes_do_not_nest_whichever_kind(rows_db: Database) -> None:
    with rows_db.write() as session:
        with pytest.raises(RuntimeError, match="nested"), rows_db.write_connection():
            pass
        session.execute(insert(_rows).values(id=1))
    with rows_db.write_connection() as conn:
        with pytest.raises(RuntimeError, match="nested"), rows_db.write():
            pass
        conn.execute(insert(_rows).values(id=2))
    assert _count(rows_db) == 2


def test_a_deferred_write_refuses_nested_writes_only_once_it_has_begun(rows_db: Database) -> None:
    with rows_db.deferred_write() as session:
        # Nothing begun yet: another write may run (and commit) first.
        with rows_db.write_connection() as conn:
            conn.execute(insert(_rows).values(id=1))
        session.execute(insert(_rows).values(id=2))
        with pytest.raises(RuntimeError, match="nested"), rows_db.write():
            pass
        session.commit()
        session.close()
    with rows_db.write() as other:
        other.execute(insert(_rows).values(id=3))
    assert _count(rows_db) == 3


def test_a_deferred_write_committed_from_another_thread_frees_the_writer(
    rows_db: Database,
) -> None:
    # A route's session is used in its handler's worker thread and committed in another.
    with rows_db.deferred_write() as session:
        worker = threading.Thread(target=lambda: session.execute(insert(_rows).values(id=1)))
        worker.start()
        worker.join()

        def commit() -> None:
            session.commit()
            session.close()

        committer = threading.Thread(target=commit)
        committer.start()
        committer.join()
    with rows_db.write_connection() as conn:
        conn.execute(insert(_rows).values(id=2))
    assert _count(rows_db) == 2


def test_a_write_to_a_locked_sqlite_store_raises_sqlalchemys_operational_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server answers SQLAlchemy's OperationalError with 503 "retry shortly"; the BEGIN that
    # waited for the lock must raise that, not the driver's own error (which would be a 500).
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "locked.db"
    db = Database(f"sqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="locked"), db.write_connection():
            pass
    finally:
        holder.close()
        db.dispose()
