"""Many writers at once, in processes and in threads: no "database is locked", no lost row."""

from __future__ import annotations

import multiprocessing
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

from corridor.security import audit
from corridor.security.audit_chain import EventRecord
from corridor.store.db import Database
from corridor.store.migrate import upgrade

PROCESSES = 8
ROWS_PER_PROCESS = 1000
# Every audit append on PostgreSQL waits for the previous one's commit to reach the disk, so
# 8,000 of them took 20-30 s on a two-core CI machine; fewer still make eight processes
# contend for the head.
PG_ROWS_PER_PROCESS = 125
# Long enough for eight interpreters to start on a small CI machine and write 8,000 rows.
_WAIT_S = 300.0

# A table of the test's own, on metadata of its own: the generic write path, not the audit one.
_rows_metadata = MetaData()
_rows = Table(
    "concurrency_rows",
    _rows_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("worker", Integer, nullable=False),
    Column("n", Integer, nullable=False),
)


def _append_events(db: Database, worker: int, count: int) -> None:
    for n in range(count):
        entry = audit.AuditEntry(f"worker-{worker}", "test.write", f"row:{n}", "ok", f"{n}")
        audit.append(db, entry)


def _insert_rows(db: Database, worker: int, count: int) -> None:
    for n in range(count):
        with db.write() as session:
            session.execute(insert(_rows).values(worker=worker, n=n))


def _append_events_and_insert_rows(db: Database, worker: int, count: int) -> None:
    _append_events(db, worker, count)
    _insert_rows(db, worker, count)


_JOBS: dict[str, Callable[[Database, int, int], None]] = {
    "audit": _append_events,
    "rows": _insert_rows,
    "both": _append_events_and_insert_rows,
}


def _worker(
    url: str, job: str, worker: int, count: int, start: Barrier, results: Queue[str | None]
) -> None:
    """Run in a child process: open a store of its own, wait for the others, then write."""
    try:
        db = Database(url)
        start.wait(timeout=_WAIT_S)
        _JOBS[job](db, worker, count)
        db.dispose()
        results.put(None)
    except BaseException:
        results.put(f"worker {worker}:\n{traceback.format_exc()}")


def _run_processes(url: str, job: str, count: int) -> None:
    """Start the writers together, each on its own ``Database``; fail on any error."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(PROCESSES)
    results: Queue[str | None] = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, job, i, count, start, results))
        for i in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    try:
        errors = [e for e in (results.get(timeout=_WAIT_S) for _ in procs) if e is not None]
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    assert errors == [], "\n".join(errors)
    assert [proc.exitcode for proc in procs] == [0] * PROCESSES


def _assert_complete_audit_log(db: Database, writers: int, count: int) -> None:
    """Every writer's events are there once each, seqs run 1..N without a gap, the chain holds."""
    events: list[EventRecord] = []
    while page := audit.list_events(db, limit=1000, after_seq=events[-1].seq if events else None):
        events.extend(page)
    assert [e.seq for e in events] == list(range(1, writers * count + 1))
    per_writer = Counter((e.actor, e.target) for e in events)
    assert len(per_writer) == writers * count
    assert audit.verify(db).ok


def _assert_complete_rows(db: Database, count: int) -> None:
    with db.read() as session:
        query = select(_rows.c.worker, func.count()).group_by(_rows.c.worker)
        counts = {worker: n for worker, n in session.execute(query)}
    assert counts == dict.fromkeys(range(PROCESSES), count)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite store that the test's child processes open again by URL."""
    db = Database(f"sqlite:///{tmp_path / 'home' / 'corridor.db'}")
    upgrade(db)
    _rows_metadata.create_all(db.write_engine)
    yield db
    db.dispose()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    db = Database(pg_url)
    _rows_metadata.create_all(db.write_engine)
    yield db
    db.dispose()


@pytest.mark.slow
def test_eight_processes_append_1000_audit_events_each_to_sqlite_without_error_or_loss(
    sqlite_db: Database,
) -> None:
    _run_processes(sqlite_db.url, "audit", ROWS_PER_PROCESS)
    _assert_complete_audit_log(sqlite_db, PROCESSES, ROWS_PER_PROCESS)


@pytest.mark.slow
def test_eight_processes_insert_1000_rows_each_into_sqlite_without_error_or_loss(
    sqlite_db: Database,
) -> None:
    _run_processes(sqlite_db.url, "rows", ROWS_PER_PROCESS)
    _assert_complete_rows(sqlite_db, ROWS_PER_PROCESS)


@pytest.mark.slow
@pytest.mark.postgres
def test_eight_processes_append_events_and_insert_rows_in_postgres_without_error_or_loss(
    pg_db: Database,
) -> None:
    _run_processes(pg_db.url, "both", PG_ROWS_PER_PROCESS)
    _assert_complete_audit_log(pg_db, PROCESSES, PG_ROWS_PER_PROCESS)
    _assert_complete_rows(pg_db, PG_ROWS_PER_PROCESS)


def test_many_threads_of_one_process_append_at_once_without_error_or_loss(db: Database) -> None:
    threads, per_thread = 16, 50
    start = threading.Barrier(threads)

    def write(worker: int) -> None:
        start.wait(timeout=_WAIT_S)
        _append_events(db, worker, per_thread)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, range(threads)))
    _assert_complete_audit_log(db, threads, per_thread)
