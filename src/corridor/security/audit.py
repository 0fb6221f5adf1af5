"""The audit log: append hash-chained events, list them, and verify the chain in the store.

Appends are serialised so that each event links to the one before it: on SQLite the write
transaction already holds the database's write lock (``BEGIN IMMEDIATE``); on PostgreSQL the
head row is locked (an advisory lock stands in while there is no head row yet). Either way the
event is written with ``seq = head.seq + 1`` and the head row moves, all in the one transaction.

An append usually reads nothing: the head this process last wrote is remembered, and the head
row is moved with ``UPDATE ... WHERE seq = <remembered> AND hash = <remembered>``, which locks
it as a ``SELECT ... FOR UPDATE`` would. If anything else moved the head since (another
process, a rolled-back transaction), that UPDATE matches no row and the head is read as before.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import (
    Connection,
    Engine,
    RowMapping,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.security.audit_chain import (
    GENESIS_HASH,
    EventFields,
    EventRecord,
    HeadRecord,
    VerifyReport,
    event_hash,
    redact,
    verify_events,
)
from corridor.security.models import AuditEvent, AuditHead
from corridor.store.base import utcnow
from corridor.store.db import Database
from corridor.store.dialects import dialect_named, dialect_of

HEAD_ID = 1
MAX_DETAIL_BYTES = 8192
MAX_LIST_LIMIT = 1000
VERIFY_BATCH = 1000
# An arbitrary constant ("corraudt") naming the audit chain among transaction locks.
_LOCK_KEY = 0x636F727261756474
_COLUMNS = (
    AuditEvent.seq,
    AuditEvent.time,
    AuditEvent.actor,
    AuditEvent.action,
    AuditEvent.target,
    AuditEvent.outcome,
    AuditEvent.request_id,
    AuditEvent.detail,
    AuditEvent.prev_hash,
    AuditEvent.hash,
)
_EVENTS = cast(Table, AuditEvent.__table__)
_HEADS = cast(Table, AuditHead.__table__)
_LENGTHS = {
    column.name: column.type.length
    for column in _EVENTS.columns
    if isinstance(column.type, String) and column.type.length is not None
}
# Built once: constructing a statement costs more than running it on SQLite.
_SELECT_HEAD = select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.id == HEAD_ID)
_SELECT_HEAD_FOR_UPDATE = _SELECT_HEAD.with_for_update()
_INSERT_EVENT = insert(_EVENTS)
_INSERT_HEAD = insert(_HEADS)
_UPDATE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.id == HEAD_ID)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_MOVE_KNOWN_HEAD = _UPDATE_HEAD.where(
    _HEADS.c.seq == bindparam("old_seq"), _HEADS.c.hash == bindparam("old_hash")
)
# The head each store's last append in this process wrote: only a guess, checked by the UPDATE.
_written_heads: weakref.WeakKeyDictionary[Engine, HeadRecord] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class AuditEntry:
    """What happened, as the caller states it; ``detail`` is redacted before it is stored."""

    actor: str
    action: str
    target: str
    outcome: str
    request_id: str = ""
    detail: Mapping[str, object] = field(default_factory=dict)


def _clip(name: str, value: str) -> str:
    """Cut ``value`` to its column's length, so that an oversized value cannot lose the event."""
    return value[: _LENGTHS[name]]


def _stored_detail(detail: Mapping[str, object]) -> dict[str, object]:
    """Redact, then round-trip through JSON so the hash covers exactly what the store returns."""
    raw = json.dumps(redact(detail), default=str, allow_nan=False, ensure_ascii=False)
    if len(raw.encode("utf-8")) > MAX_DETAIL_BYTES:
        return {"truncated": True, "size_bytes": len(raw.encode("utf-8"))}
    loaded: dict[str, object] = json.loads(raw)
    return loaded


def _read_head(conn: Connection, *, for_update: bool = False) -> HeadRecord | None:
    # On PostgreSQL, FOR UPDATE waits for the appender before and then reads its head, even
    # under READ COMMITTED; SQLite has no row locks and needs none under BEGIN IMMEDIATE.
    row = conn.execute(_SELECT_HEAD_FOR_UPDATE if for_update else _SELECT_HEAD).one_or_none()
    return None if row is None else HeadRecord(seq=row.seq, hash=row.hash)


def _event_after(prev: HeadRecord, entry: AuditEntry, detail: dict[str, object]) -> EventRecord:
    fields = EventFields(
        seq=prev.seq + 1,
        time=utcnow(),
        actor=_clip("actor", entry.actor),
        action=_clip("action", entry.action),
        target=_clip("target", entry.target),
        outcome=_clip("outcome", entry.outcome),
        request_id=_clip("request_id", entry.request_id),
        detail=detail,
    )
    return EventRecord(**vars(fields), prev_hash=prev.hash, hash=event_hash(fields, prev.hash))


def _move_head(conn: Connection, old: HeadRecord, new: EventRecord) -> bool:
    """Move the head from ``old`` to ``new`` if it is still at ``old``; lock it either way."""
    moved = conn.execute(
        _MOVE_KNOWN_HEAD,
        {"old_seq": old.seq, "old_hash": old.hash, "new_seq": new.seq, "new_hash": new.hash},
    )
    return bool(moved.rowcount == 1)


def _append_on(conn: Connection, entry: AuditEntry) -> EventRecord:
    backend = dialect_named(conn.dialect.name)
    # Everything that does not depend on the head is prepared before the lock is taken.
    detail = _stored_detail(entry.detail)
    guess = _written_heads.get(conn.engine)
    if guess is not None:
        record = _event_after(guess, entry, detail)
        if _move_head(conn, guess, record):
            conn.execute(_INSERT_EVENT, vars(record))
            _written_heads[conn.engine] = HeadRecord(record.seq, record.hash)
            return record
    head = _read_head(conn, for_update=True)
    if head is None:
        # Appenders queue on the head row (FOR UPDATE), but the very first has no row to lock.
        backend.transaction_lock(conn, _LOCK_KEY)
        head = _read_head(conn, for_update=True)
    record = _event_after(head or HeadRecord(seq=0, hash=GENESIS_HASH), entry, detail)
    conn.execute(_INSERT_EVENT, vars(record))
    if head is None:
        conn.execute(_INSERT_HEAD, {"id": HEAD_ID, "seq": record.seq, "hash": record.hash})
    else:
        conn.execute(_UPDATE_HEAD, {"new_seq": record.seq, "new_hash": record.hash})
    _written_heads[conn.engine] = HeadRecord(record.seq, record.hash)
    return record


def append_in(session: Session, entry: AuditEntry) -> EventRecord:
    """Append ``entry`` inside the caller's write transaction (a ``Database.write()`` session).

    The event commits or rolls back with the caller's other changes.
    """
    return _append_on(session.connection(), entry)


def append(db: Database, entry: AuditEntry) -> EventRecord:
    """Append ``entry`` in a transaction of its own and return the stored event.

    Inside a ``db.write()`` block use ``append_in``: a second write transaction opened there
    waits for the first, which on SQLite never ends (its one write connection is taken).
    """
    with db.write_connection() as conn:
        return _append_on(conn, entry)


def _record(row: RowMapping) -> EventRecord:
    return EventRecord(**row)


def list_events(
    db: Database,
    *,
    limit: int = 100,
    after_seq: int | None = None,
    actor: str | None = None,
    action: str | None = None,
) -> list[EventRecord]:
    """Return up to ``limit`` events in ascending ``seq``, after ``after_seq`` when given."""
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}, not {limit}")
    query = select(*_COLUMNS).order_by(AuditEvent.seq).limit(limit)
    if after_seq is not None:
        query = query.where(AuditEvent.seq > after_seq)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    with db.read() as session:
        return [_record(row) for row in session.execute(query).mappings()]


def _stream(session: Session, batch_size: int) -> Iterator[EventRecord]:
    """Yield every event in ``seq`` order, one keyset page at a time."""
    after: int | None = None
    while True:
        query = select(*_COLUMNS).order_by(AuditEvent.seq).limit(batch_size)
        if after is not None:
            query = query.where(AuditEvent.seq > after)
        rows = [_record(row) for row in session.execute(query).mappings()]
        yield from rows
        if len(rows) < batch_size:
            return
        after = rows[-1].seq


def verify(db: Database, *, batch_size: int = VERIFY_BATCH) -> VerifyReport:
    """Check every stored event against the chain and the head, ``batch_size`` rows at a time."""
    with db.read() as session:
        # One snapshot for the head and every page, or concurrent appends would look like
        # events added behind the head's back.
        backend = dialect_of(session)
        conn = session.connection(execution_options=backend.snapshot)
        head = _read_head(conn)
        return verify_events(_stream(session, batch_size), head)
