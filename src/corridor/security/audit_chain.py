"""The audit hash chain as pure values: canonical form, hashing, redaction and verification.

Each event's hash is the SHA-256 of a canonical JSON document holding the event's fields, its
``seq`` and the previous event's hash, so changing, removing, adding or moving any event breaks
the chain at that point. The head (the newest ``seq`` and hash, kept apart from the events)
catches events cut off the end, which a chain alone cannot. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from corridor.errors import IntegrityError

GENESIS_HASH = "0" * 64
REDACTED = "[redacted]"

# Words that mark a key as holding a secret, matched against the key's words, not substrings,
# so that "monkey" or "tokenizer" stay readable.
_SECRET_WORDS = frozenset(
    {
        "apikey",
        "auth",
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "key",
        "keys",
        "passphrase",
        "passwd",
        "password",
        "passwords",
        "private",
        "pwd",
        "secret",
        "secrets",
        "session",
        "signature",
        "token",
        "tokens",
    }
)
# A last word that names metadata about a secret rather than the secret ("token_id"), except
# where the identifier is itself a credential ("session_id").
_SAFE_LAST_WORDS = frozenset({"count", "id", "ids", "name", "prefix"})
_BEARER_WORDS = frozenset({"cookie", "session"})
_SECRET_VALUE = re.compile(r"^\s*(bearer|basic)\s+\S", re.IGNORECASE)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


@dataclass(frozen=True)
class EventFields:
    """What an event says; ``time`` must be timezone-aware."""

    seq: int
    time: dt.datetime
    actor: str
    action: str
    target: str
    outcome: str
    request_id: str
    detail: Mapping[str, object]


@dataclass(frozen=True)
class EventRecord(EventFields):
    """An event as stored: its fields plus the link to its predecessor and its own hash."""

    prev_hash: str
    hash: str


@dataclass(frozen=True)
class HeadRecord:
    """The newest event's ``seq`` and hash, as the head row records them."""

    seq: int
    hash: str


class Fault(enum.StrEnum):
    """Why verification stopped."""

    MODIFIED = "modified"  # the event's content no longer matches its hash
    MISSING = "missing"  # a seq is absent: the event was deleted
    OUT_OF_SEQUENCE = "out_of_sequence"  # a seq below the next expected one
    BROKEN_LINK = "broken_link"  # prev_hash is not the previous event's hash
    TRUNCATED = "truncated"  # the head names events that are gone
    UNANCHORED = "unanchored"  # events after the head, or no head at all
    HEAD_MISMATCH = "head_mismatch"  # the head's hash is not the event's at its seq


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of walking the chain: ``ok``, or the first bad ``seq`` and why."""

    checked: int
    head_seq: int
    first_bad_seq: int | None = None
    fault: Fault | None = None
    message: str = "the audit chain is intact"

    @property
    def ok(self) -> bool:
        return self.fault is None

    def raise_if_broken(self) -> None:
        """Raise ``IntegrityError`` with the report's message unless the chain is intact."""
        if not self.ok:
            raise IntegrityError(self.message)


def canonical_time(value: dt.datetime) -> str:
    """Return ``value`` as UTC ISO 8601 with microseconds, e.g. ``2024-05-01T12:00:00.000000Z``."""
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(fields: EventFields, prev_hash: str) -> bytes:
    """Serialise an event and its link as stable JSON: sorted keys, no spaces, UTF-8."""
    doc = {
        "v": 1,
        "seq": fields.seq,
        "time": canonical_time(fields.time),
        "actor": fields.actor,
        "action": fields.action,
        "target": fields.target,
        "outcome": fields.outcome,
        "request_id": fields.request_id,
        "detail": fields.detail,
        "prev_hash": prev_hash,
    }
    text = json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def event_hash(fields: EventFields, prev_hash: str) -> str:
    """Return the hex SHA-256 that chains ``fields`` onto the event whose hash is ``prev_hash``."""
    return hashlib.sha256(canonical_bytes(fields, prev_hash)).hexdigest()


def _is_secret_key(key: str) -> bool:
    words = [w.lower() for w in _WORD.findall(key)]
    if not any(w in _SECRET_WORDS for w in words) and "apikey" not in "".join(words):
        return False
    return words[-1] not in _SAFE_LAST_WORDS or any(w in _BEARER_WORDS for w in words)


def _redact_value(value: object) -> object:
    if isinstance(value, Mapping):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.match(value):
        return REDACTED
    return value


def redact(detail: Mapping[str, object]) -> dict[str, object]:
    """Return a copy of ``detail`` with secret-looking keys and credentials masked, at any depth."""
    return {
        str(key): REDACTED if _is_secret_key(str(key)) else _redact_value(value)
        for key, value in detail.items()
    }


def verify_events(events: Iterable[EventRecord], head: HeadRecord | None) -> VerifyReport:
    """Walk ``events`` in ascending ``seq`` and report the first one that breaks the chain."""
    anchor = head or HeadRecord(seq=0, hash=GENESIS_HASH)
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0

    def fail(seq: int, fault: Fault, message: str) -> VerifyReport:
        return VerifyReport(checked, anchor.seq, seq, fault, f"audit event {seq}: {message}")

    for event in events:
        if event.seq > expected_seq:
            return fail(expected_seq, Fault.MISSING, f"is missing (the next is {event.seq})")
        if event.seq < expected_seq:
            return fail(event.seq, Fault.OUT_OF_SEQUENCE, "has a seq out of sequence")
        if event.prev_hash != prev_hash:
            return fail(
                event.seq,
                Fault.BROKEN_LINK,
                "does not follow the event before it: an event was inserted, deleted or "
                "reordered here, or the one before was rewritten",
            )
        if event_hash(event, prev_hash) != event.hash:
            return fail(event.seq, Fault.MODIFIED, "was modified after it was written")
        if event.seq > anchor.seq:
            why = "there is no audit head" if head is None else f"the head is at {anchor.seq}"
            return fail(event.seq, Fault.UNANCHORED, f"was added after the head ({why})")
        if event.seq == anchor.seq and event.hash != anchor.hash:
            return fail(event.seq, Fault.HEAD_MISMATCH, "does not match the audit head's hash")
        checked += 1
        expected_seq, prev_hash = event.seq + 1, event.hash
    if expected_seq <= anchor.seq:
        return fail(
            expected_seq, Fault.TRUNCATED, f"is missing: the head says the log ends at {anchor.seq}"
        )
    return VerifyReport(checked=checked, head_seq=anchor.seq)
