"""The metadata store: SQLAlchemy engines and sessions for SQLite and PostgreSQL.

Reads and writes take different paths. On SQLite a write transaction starts with
``BEGIN IMMEDIATE``: it takes the write lock up front, so a writer waits in SQLite's busy handler
instead of failing with "database is locked" when it would upgrade a read lock, which is what
happens to deferred transactions under contention. Writers of one process also queue on a
single pooled connection, so they never compete with each other for the file lock at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from corridor.errors import ConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 60_000
_POOL_WAIT_S = 120.0
# The write transactions open in this flow of control: a thread, or a request handled across
# threads (a context, unlike a thread, follows a request into the worker thread running its
# handler). An entry's session is None while its transaction is open for the whole block.
_OPEN_WRITES: ContextVar[tuple[tuple[Database, Session | None], ...]] = ContextVar(
    "corridor_open_writes", default=()
)


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def normalise_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver named for plain PostgreSQL URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        poolclass=QueuePool,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=_POOL_WAIT_S,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # NORMAL in WAL mode loses nothing when a process dies; only a power cut can.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        if not immediate:
            # A write slipped into a read session fails at once, not only under contention.
            cur.execute("PRAGMA query_only=ON")
        cur.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Straight to the driver: every request opens a few transactions, and SQLAlchemy's
        # execution path costs several times what SQLite spends on the BEGIN itself.
        try:
            driver = conn.connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)  # typed Any | None: any driver's
            driver.execute(begin)
        except sqlite3.Error as exc:
            # Wrapped as SQLAlchemy would, so that a busy database still answers 503.
            raise sa_exc.DBAPIError.instance(begin, None, exc, sqlite3.Error) from exc

    return engine


class Database:
    """Sessions over one metadata store; ``read()`` for queries, ``write()`` for changes."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        # The URL picks the backend before any engine (and so any `dialects` entry) exists;
        # engines are built differently enough (two SQLite engines with their own events) that
        # this stays the one place a URL scheme is tested.
        self.is_sqlite = _is_sqlite(self.url)
        if self.is_sqlite:
            path = self.url.split(":///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.read_engine = _sqlite_engine(self.url, immediate=False, pool_size=8)
            self.write_engine = _sqlite_engine(self.url, immediate=True, pool_size=1)
        elif self.url.startswith("postgresql"):
            self.read_engine = create_engine(
                self.url, pool_size=8, max_overflow=8, pool_pre_ping=True
            )
            self.write_engine = self.read_engine
        else:
            raise ConfigurationError(
                f"unsupported database URL scheme in {self.url.split(':', 1)[0]!r}: "
                "use sqlite:///path or postgresql://user@host/db"
            )
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Yield a session for queries; objects stay readable after it closes."""
        # Closing (not rolling back) keeps loaded attributes; the pool rolls the connection back.
        with self._read() as session:
            yield session

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """Yield a Core connection for queries, for hot paths that need no ORM session."""
        with self.read_engine.connect() as conn:
            yield conn

    @contextmanager
    def _one_writer(self, deferred: Session | None = None) -> Iterator[None]:
        held = _OPEN_WRITES.get()
        for db, session in held:
            if db is self and (session is None or session.in_transaction()):
                # On SQLite the inner write would wait forever for the one write connection.
                raise RuntimeError("nested Database.write(): pass the open session down instead")
        token = _OPEN_WRITES.set((*held, (self, deferred)))
        try:
            yield
        finally:
            _OPEN_WRITES.reset(token)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Yield a session whose changes commit together when the block exits cleanly."""
        with self._one_writer(), self._write() as session, session.begin():
            yield session

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """`write` for Core statements: one transaction on a connection, no ORM session."""
        with self._one_writer(), self.write_engine.begin() as conn:
            yield conn

    @contextmanager
    def deferred_write(self) -> Iterator[Session]:
        """Yield a write session that begins on first use; the caller commits and closes it.

        For a write that opens in one thread and ends in another (a route's session, committed
        after its handler returns). Nothing here does I/O: the transaction begins, on SQLite with
        ``BEGIN IMMEDIATE``, where the session is first used. Once it has begun, a
        ``write()`` in the same context is refused as nested, as inside ``write()``.
        """
        session = self._write()
        with self._one_writer(session):
            yield session

    def dispose(self) -> None:
        self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            self.write_engine.dispose()
