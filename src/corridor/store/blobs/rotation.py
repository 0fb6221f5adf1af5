"""Master-key rotation: re-wrap every data key under a new master key; the data stays as is.

The steps are ordered so that a crash anywhere leaves every blob readable and a re-run
finishes the job:

1. create ``<key file>.new`` (kept if it exists: that is an interrupted rotation resuming);
   from then on every reader holds both keys and every writer wraps under the new one;
2. re-wrap each sidecar under the new key, one atomic replace at a time;
3. list again for sidecars written meanwhile by processes that had not yet seen the new key;
4. rename ``<key file>.new`` over the key file: the old key is gone.

A writer in another process that checked the key files just before step 1 and writes its
sidecar after step 3 ends up under the retired key; run rotations when writes are quiet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from corridor.errors import AlreadyExists, IntegrityError, NotFound
from corridor.store.blobs.base import RawStore
from corridor.store.blobs.crypto import (
    Keyring,
    WrappedKey,
    create_master_key,
    load_master_key,
    pending_key_path,
    promote_pending_key,
)
from corridor.store.blobs.layout import KEYS, key_context, parse_sidecar_key


@dataclass
class RotationReport:
    """What a rotation did."""

    old_key_id: str
    new_key_id: str
    rewrapped: int = 0
    already_new: int = 0
    # Sidecars no loaded key could open; their blobs were unreadable before the rotation too.
    unreadable: list[str] = field(default_factory=list)


def rotate_master_key(raw: RawStore, key_file: Path) -> RotationReport:
    """Re-wrap every data key in ``raw`` under a new master key that replaces ``key_file``."""
    current = load_master_key(key_file)
    pending_path = pending_key_path(key_file)
    try:
        pending = create_master_key(pending_path)
    except AlreadyExists:
        pending = load_master_key(pending_path)
    keyring = Keyring(current, pending)
    report = RotationReport(old_key_id=current.key_id, new_key_id=pending.key_id)
    seen: set[str] = set()
    while True:
        fresh = [key for key in raw.list(KEYS) if key not in seen]
        if not fresh:
            break
        for key in fresh:
            seen.add(key)
            _rewrap(raw, key, keyring, report)
    promote_pending_key(key_file)
    return report


def _rewrap(raw: RawStore, key: str, keyring: Keyring, report: RotationReport) -> None:
    parsed = parse_sidecar_key(key)
    if parsed is None:
        return
    try:
        with raw.open_read(key) as f:
            wrapped = WrappedKey.from_bytes(f.read())
    except NotFound:
        return  # its blob was deleted meanwhile
    if wrapped.key_id == keyring.wrapping_key.key_id:
        report.already_new += 1
        return
    context = key_context(*parsed)
    try:
        data_key = keyring.unwrap(wrapped, context)
    except IntegrityError:
        report.unreadable.append(key)
        return
    raw.write_bytes(key, keyring.wrap(data_key, context).to_bytes())
    report.rewrapped += 1
