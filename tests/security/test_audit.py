"""The audit log over a real store, on both backends: appends, listing, tampering, redaction."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import Executable, delete, event, insert, select, update

from corridor.errors import InvalidInput
from corridor.security import audit
from corridor.security.audit_chain import REDACTED, EventRecord, Fault, event_hash
from corridor.security.models import AuditEvent, AuditHead, User
from corridor.store.db import Database


def _entry(n: int, **changes: object) -> audit.AuditEntry:
    entry = audit.AuditEntry(
        actor="alice" if n % 2 else "bob",
        action="runs.create" if n % 3 else "runs.delete",
        target=f"run:{n}",
        outcome="ok",
        request_id=f"req-{n}",
        detail={"n": n},
    )
    return dataclasses.replace(entry, **changes)  # type: ignore[arg-type]


def _append(db: Database, count: int) -> list[EventRecord]:
    return [audit.append(db, _entry(n)) for n in range(1, count + 1)]


def _tamper(db: Database, *statements: Executable) -> None:
    """Change the tables behind the service's back, as someone with database access could."""
    with db.write() as session:
        for statement in statements:
            session.execute(statement)


def _move(seq: int, to: int) -> Executable:
    return update(AuditEvent).where(AuditEvent.seq == seq).values(seq=to)


def _forge(prev: EventRecord, seq: int) -> EventRecord:
    """An event an attacker who knows the algorithm would write after ``prev``."""
    fields = dataclasses.replace(
        prev, seq=seq, actor="mallory", time=prev.time + dt.timedelta(seconds=1)
    )
    return dataclasses.replace(fields, prev_hash=prev.hash, hash=event_hash(fields, prev.hash))


def test_appended_events_chain_and_verify(db: Database) -> None:
    events = _append(db, 5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert audit.list_events(db, limit=10) == events
    report = audit.verify(db, batch_size=2)
    assert report.ok
    assert (report.checked, report.head_seq) == (5, 5)


def test_an_empty_log_verifies(db: Database) -> None:
    assert audit.verify(db).ok


def test_list_events_pages_and_filters(db: Database) -> None:
    events = _append(db, 6)
    assert audit.list_events(db, limit=2, after_seq=3) == events[3:5]
    assert [e.seq for e in audit.list_events(db, actor="alice")] == [1, 3, 5]
    assert [e.seq for e in audit.list_events(db, action="runs.delete")] == [3, 6]
    with pytest.raises(InvalidInput, match="limit"):
        audit.list_events(db, limit=0)


def test_append_in_commits_and_rolls_back_with_the_callers_transaction(db: Database) -> None:
    with db.write() as session:
        session.add(User(name="carol"))
        audit.append_in(session, _entry(1, action="users.create", target="user:carol"))

    def fail_after_writing() -> None:
        with db.write() as session:
            session.add(User(name="dave"))
            audit.append_in(session, _entry(2, action="users.create", target="user:dave"))
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError, match="request failed"):
        fail_after_writing()
    assert [e.target for e in audit.list_events(db)] == ["user:carol"]
    assert audit.append(db, _entry(3)).seq == 2
    assert audit.verify(db).ok


def test_verify_names_an_event_whose_field_was_modified(db: Database) -> None:
    _append(db, 5)
    _tamper(db, update(AuditEvent).where(AuditEvent.seq == 3).values(actor="mallory"))
    report = audit.verify(db, batch_size=2)
    assert (report.ok, report.first_bad_seq, report.fault) == (False, 3, Fault.MODIFIED)
    assert "audit event 3" in report.message


def test_verify_names_an_event_whose_detail_was_modified(db: Database) -> None:
    _append(db, 5)
    _tamper(db, update(AuditEvent).where(AuditEvent.seq == 4).values(detail={"n": 40}))
    report = audit.verify(db)
    assert (report.first_bad_seq, report.fault) == (4, Fault.MODIFIED)


def test_verify_names_a_deleted_middle_event(db: Database) -> None:
    _append(db, 5)
    _tamper(db, delete(AuditEvent).where(AuditEvent.seq == 3))
    report = audit.verify(db)
    assert (report.first_bad_seq, report.fault) == (3, Fault.MISSING)


def test_verify_names_the_first_of_the_events_deleted_from_the_end(db: Database) -> None:
    _append(db, 5)
    _tamper(db, delete(AuditEvent).where(AuditEvent.seq >= 4))
    report = audit.verify(db)
    assert (report.first_bad_seq, report.fault) == (4, Fault.TRUNCATED)


def test_verify_names_a_forged_event_added_after_the_head(db: Database) -> None:
    events = _append(db, 5)
    _tamper(db, insert(AuditEvent).values(**vars(_forge(events[-1], 6))))
    report = audit.verify(db)
    assert (report.first_bad_seq, report.fault) == (6, Fault.UNANCHORED)


def test_verify_names_an_unhashed_forged_event_inserted_in_the_middle(db: Database) -> None:
    events = _append(db, 5)
    forged = dataclasses.replace(_forge(events[1], 3), hash="e" * 64)
    # Make room at seq 3 from the top down, so that no two rows ever share a seq.
    _tamper(db, *(_move(seq, seq + 1) for seq in (5, 4, 3)))
    _tamper(db, insert(AuditEvent).values(**vars(forged)))
    report = audit.verify(db)
    assert (report.first_bad_seq, report.fault) == (3, Fault.MODIFIED)


def test_verify_names_the_event_after_a_rehashed_forgery_in_the_middle(db: Database) -> None:
    events = _append(db, 5)
    _tamper(db, *(_move(seq, seq + 1) for seq in (5, 4, 3)))
    _tamper(
        db,
        insert(AuditEvent).values(**vars(_forge(events[1], 3))),
        update(AuditHead).values(seq=6),
    )
    report = audit.verify(db)
    assert (report.first_bad_seq, report.fault) == (4, Fault.BROKEN_LINK)


def test_verify_names_the_first_of_two_swapped_events(db: Database) -> None:
    _append(db, 5)
    _tamper(db, _move(2, -1), _move(4, 2), _move(-1, 4))
    report = audit.verify(db)
    assert (report.first_bad_seq, report.fault) == (2, Fault.BROKEN_LINK)


def test_verify_names_a_tampered_head(db: Database) -> None:
    _append(db, 5)
    _tamper(db, update(AuditHead).values(hash="f" * 64))
    report = audit.verify(db)
    assert (report.first_bad_seq, report.fault) == (5, Fault.HEAD_MISMATCH)


def test_secrets_in_detail_are_redacted_before_they_are_stored(db: Database) -> None:
    detail = {"token": "cor_supersecret", "nested": {"password": "hunter2"}, "token_prefix": "cor_"}
    event = audit.append(db, _entry(1, detail=detail))
    expected = {"token": REDACTED, "nested": {"password": REDACTED}, "token_prefix": "cor_"}
    assert event.detail == expected
    with db.read() as session:
        stored = session.execute(select(AuditEvent.detail)).scalar_one()
    assert stored == expected
    assert "supersecret" not in repr(stored)
    assert "hunter2" not in repr(stored)
    assert audit.verify(db).ok


def test_awkward_inputs_are_stored_as_hashed_and_still_verify(db: Database) -> None:
    when = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    audit.append(db, _entry(1, detail={"when": when, "pair": (1, 2), "π": "ünïcode", 7: None}))
    audit.append(db, _entry(2, target="x" * 2000, request_id="r" * 500))
    audit.append(db, _entry(3, detail={"blob": "z" * 100_000}))
    first, second, third = audit.list_events(db)
    assert first.detail == {"when": str(when), "pair": [1, 2], "π": "ünïcode", "7": None}
    assert (len(second.target), len(second.request_id)) == (512, 64)
    assert third.detail == {"truncated": True, "size_bytes": 100_012}
    assert audit.verify(db).ok


def _head_reads(db: Database) -> list[str]:
    """Record every statement that reads the head row on ``db``'s write engine."""
    seen: list[str] = []

    @event.listens_for(db.write_engine, "before_cursor_execute")
    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "audit_head" in statement:
            seen.append(statement)

    return seen


def test_an_append_after_this_process_own_reads_nothing(db: Database) -> None:
    audit.append(db, _entry(1))
    reads = _head_reads(db)
    events = [audit.append(db, _entry(n)) for n in (2, 3)]
    assert reads == []
    assert [e.seq for e in events] == [2, 3]
    assert audit.verify(db).ok


def test_appends_from_another_process_keep_one_chain(db: Database) -> None:
    # A second Database over the same store stands for another server process: each remembers
    # only the heads it wrote, and must notice that the other has moved the head since.
    other = Database(db.url)
    try:
        mine = [audit.append(db if n % 3 else other, _entry(n)) for n in range(1, 10)]
    finally:
        other.dispose()
    assert [e.seq for e in mine] == list(range(1, 10))
    assert [e.prev_hash for e in mine[1:]] == [e.hash for e in mine[:-1]]
    report = audit.verify(db)
    assert report.ok
    assert (report.checked, report.head_seq) == (9, 9)
