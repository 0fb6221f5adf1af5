"""The audit chain as pure values: canonical form, hashing, redaction and verification."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from corridor.errors import IntegrityError
from corridor.security.audit_chain import (
    GENESIS_HASH,
    REDACTED,
    EventFields,
    EventRecord,
    Fault,
    HeadRecord,
    canonical_bytes,
    canonical_time,
    event_hash,
    redact,
    verify_events,
)

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)


def _fields(seq: int, **changes: object) -> EventFields:
    fields = EventFields(
        seq=seq,
        time=T0 + dt.timedelta(seconds=seq),
        actor="alice",
        action="runs.create",
        target=f"run:{seq}",
        outcome="ok",
        request_id=f"req-{seq}",
        detail={"n": seq, "tags": ["a", "b"]},
    )
    return dataclasses.replace(fields, **changes)  # type: ignore[arg-type]


def _chain(count: int) -> list[EventRecord]:
    events, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        fields = _fields(seq)
        digest = event_hash(fields, prev)
        events.append(EventRecord(**vars(fields), prev_hash=prev, hash=digest))
        prev = digest
    return events


def _head(events: list[EventRecord]) -> HeadRecord:
    return HeadRecord(seq=events[-1].seq, hash=events[-1].hash)


def test_canonical_form_is_sorted_compact_utf8_json_with_utc_microseconds() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    fields = _fields(1, time=T0.astimezone(plus_two), detail={"b": 1, "a": "é"})
    assert (
        canonical_bytes(fields, GENESIS_HASH)
        == (
            '{"action":"runs.create","actor":"alice","detail":{"a":"é","b":1},'
            f'"outcome":"ok","prev_hash":"{GENESIS_HASH}","request_id":"req-1","seq":1,'
            '"target":"run:1","time":"2024-05-01T12:00:00.123456Z","v":1}'
        ).encode()
    )


def test_canonical_time_keeps_zero_microseconds_and_rejects_naive_times() -> None:
    assert canonical_time(T0.replace(microsecond=0)) == "2024-05-01T12:00:00.000000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        canonical_time(T0.replace(tzinfo=None))


def test_event_hash_is_hex_sha256_that_changes_with_every_field_and_the_link() -> None:
    base = event_hash(_fields(1), GENESIS_HASH)
    assert len(base) == 64
    assert int(base, 16) >= 0
    assert event_hash(_fields(1, detail={"tags": ["a", "b"], "n": 1}), GENESIS_HASH) == base
    changed = [
        event_hash(_fields(2), GENESIS_HASH),
        event_hash(_fields(1, time=T0 + dt.timedelta(microseconds=1)), GENESIS_HASH),
        event_hash(_fields(1, actor="mallory"), GENESIS_HASH),
        event_hash(_fields(1, action="runs.delete"), GENESIS_HASH),
        event_hash(_fields(1, target="run:9"), GENESIS_HASH),
        event_hash(_fields(1, outcome="denied"), GENESIS_HASH),
        event_hash(_fields(1, request_id="req-9"), GENESIS_HASH),
        event_hash(_fields(1, detail={"n": 2}), GENESIS_HASH),
        event_hash(_fields(1), "1" * 64),
    ]
    assert base not in changed
    assert len(set(changed)) == len(changed)


def test_redact_masks_secret_keys_and_credentials_at_any_depth() -> None:
    detail = {
        "name": "ci-token",
        "token": "cor_abc",
        "token_prefix": "cor_a",
        "session_id": "s3cr3t",
        "nested": {"password": "hunter2", "apiKey": "k", "monkey": "banana"},
        "headers": [{"Authorization": "Bearer x"}, {"X-Api-Key": "k"}, "Bearer abc.def"],
        "Set-Cookie": "sid=1",
        "client_secret": "s",
        "tokenizer": "bpe",
    }
    assert redact(detail) == {
        "name": "ci-token",
        "token": REDACTED,
        "token_prefix": "cor_a",
        "session_id": REDACTED,
        "nested": {"password": REDACTED, "apiKey": REDACTED, "monkey": "banana"},
        "headers": [{"Authorization": REDACTED}, {"X-Api-Key": REDACTED}, REDACTED],
        "Set-Cookie": REDACTED,
        "client_secret": REDACTED,
        "tokenizer": "bpe",
    }
    assert detail["token"] == "cor_abc", "redact must not change its argument"


def test_verify_accepts_an_intact_chain_and_an_empty_log() -> None:
    events = _chain(5)
    report = verify_events(events, _head(events))
    assert report.ok
    assert (report.checked, report.head_seq, report.first_bad_seq) == (5, 5, None)
    report.raise_if_broken()
    assert verify_events([], None).ok


def test_verify_names_a_modified_event() -> None:
    events = _chain(5)
    events[2] = dataclasses.replace(events[2], actor="mallory")
    report = verify_events(events, _head(events))
    assert (report.first_bad_seq, report.fault, report.checked) == (3, Fault.MODIFIED, 2)
    with pytest.raises(IntegrityError, match="audit event 3"):
        report.raise_if_broken()


def test_verify_names_a_deleted_event() -> None:
    events = _chain(5)
    head = _head(events)
    del events[1]
    report = verify_events(events, head)
    assert (report.first_bad_seq, report.fault) == (2, Fault.MISSING)


def test_verify_names_a_renumbered_or_reordered_event_by_its_broken_link() -> None:
    events = _chain(5)
    head = _head(events)
    swapped = [
        events[0],
        dataclasses.replace(events[2], seq=2),
        dataclasses.replace(events[1], seq=3),
        *events[3:],
    ]
    assert verify_events(swapped, head).first_bad_seq == 2
    assert verify_events(swapped, head).fault == Fault.BROKEN_LINK


def test_verify_names_a_rehashed_forgery_at_the_event_after_it() -> None:
    events = _chain(5)
    forged = dataclasses.replace(events[2], actor="mallory")
    forged = dataclasses.replace(forged, hash=event_hash(forged, forged.prev_hash))
    report = verify_events([*events[:2], forged, *events[3:]], _head(events))
    assert (report.first_bad_seq, report.fault) == (4, Fault.BROKEN_LINK)


def test_verify_names_events_cut_off_the_end() -> None:
    events = _chain(5)
    report = verify_events(events[:3], _head(events))
    assert (report.first_bad_seq, report.fault) == (4, Fault.TRUNCATED)


def test_verify_names_events_added_after_the_head_or_without_one() -> None:
    events = _chain(5)
    report = verify_events(events, HeadRecord(seq=4, hash=events[3].hash))
    assert (report.first_bad_seq, report.fault) == (5, Fault.UNANCHORED)
    report = verify_events(events, None)
    assert (report.first_bad_seq, report.fault) == (1, Fault.UNANCHORED)
    assert "no audit head" in report.message


def test_verify_names_a_head_whose_hash_does_not_match() -> None:
    events = _chain(5)
    report = verify_events(events, HeadRecord(seq=5, hash="f" * 64))
    assert (report.first_bad_seq, report.fault) == (5, Fault.HEAD_MISMATCH)


def test_verify_names_a_seq_below_the_expected_one() -> None:
    events = _chain(3)
    stray = dataclasses.replace(events[0], seq=0)
    report = verify_events([stray, *events], _head(events))
    assert (report.first_bad_seq, report.fault) == (0, Fault.OUT_OF_SEQUENCE)
