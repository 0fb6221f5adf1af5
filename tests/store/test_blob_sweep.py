"""The blob sweep on every backend (local folder, S3 via moto): age, touch, dry run, leftovers.

References come from a real, migrated metadata store that holds none here, so every blob is
unreferenced and only age decides; what slices reference is in test_blob_sweep_references.py.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest

from corridor.errors import InvalidInput, NotFound
from corridor.store.base import utcnow
from corridor.store.blob_sweep import DEFAULT_GRACE_S, sweep
from corridor.store.blobs import BlobStore
from corridor.store.blobs.layout import object_key, sidecar_key, used_key
from corridor.store.blobs.local import LocalRawStore
from corridor.store.blobs.references import ReferenceSource
from corridor.store.db import Database
from tests.conftest import sqlite_only

# Only age decides here: the metadata store is empty, so no slice references a blob.
NO_SOURCES: dict[str, ReferenceSource] = {}

LATER = dt.timedelta(seconds=DEFAULT_GRACE_S + 60)


def _keys(store: BlobStore) -> list[str]:
    return sorted(k for k in store.raw.list("") if not k.startswith("tmp/"))


def test_stat_reports_size_and_a_recent_utc_write_time(blob_store: BlobStore) -> None:
    before = utcnow() - dt.timedelta(minutes=5)  # S3 stamps whole seconds, by its own clock
    digest = blob_store.put(b"x" * 10_000)
    found = blob_store.stat(digest)
    assert found.digest == digest
    assert found.stored_bytes == blob_store.raw.stat(object_key(digest)).size_bytes
    assert found.stored_bytes > 10_000  # encrypted: a header and a tag per chunk on top
    assert found.last_used_at.tzinfo is not None
    assert before < found.last_used_at < utcnow() + dt.timedelta(minutes=5)


def test_stat_and_touch_of_a_missing_blob(blob_store: BlobStore) -> None:
    missing = "0" * 64
    with pytest.raises(NotFound, match="does not exist"):
        blob_store.stat(missing)
    with pytest.raises(NotFound):
        blob_store.raw.stat(object_key(missing))
    assert blob_store.touch(missing) is False
    assert _keys(blob_store) == []  # the marker written first is taken back
    with pytest.raises(InvalidInput, match="not a blob digest"):
        blob_store.touch("../etc")


@sqlite_only
def test_unused_blobs_go_after_the_grace_period_and_fresh_ones_stay(
    blob_store: BlobStore, db: Database
) -> None:
    digests = {blob_store.put(f"blob {i}".encode()) for i in range(3)}

    fresh = sweep(db, blob_store, sources=NO_SOURCES)
    assert (fresh.stored, fresh.referenced, fresh.recent, fresh.deleted) == (3, 0, 3, 0)
    assert set(blob_store.digests()) == digests

    dry = sweep(db, blob_store, sources=NO_SOURCES, now=utcnow() + LATER, dry_run=True)
    assert (dry.deleted, sorted(dry.deleted_digests)) == (3, sorted(digests))
    assert dry.freed_bytes == sum(blob_store.stat(d).stored_bytes for d in digests)
    assert set(blob_store.digests()) == digests  # a dry run deletes nothing

    done = sweep(db, blob_store, sources=NO_SOURCES, now=utcnow() + LATER)
    assert (done.deleted, done.freed_bytes) == (3, dry.freed_bytes)
    assert list(blob_store.digests()) == []
    assert _keys(blob_store) == []  # data keys went with their objects


@sqlite_only
@pytest.mark.parametrize("blob_settings", ["local"], indirect=True)  # S3 cannot backdate
def test_a_touched_blob_gets_a_new_grace_period(blob_store: BlobStore, db: Database) -> None:
    reused = blob_store.put(b"written long ago, about to be referenced again")
    idle = blob_store.put(b"written long ago, unused since")
    assert isinstance(blob_store.raw, LocalRawStore)
    long_ago = time.time() - 2 * DEFAULT_GRACE_S
    for digest in (reused, idle):
        os.utime(blob_store.raw.path(object_key(digest)), (long_ago, long_ago))
    assert blob_store.touch(reused) is True
    report = sweep(db, blob_store, sources=NO_SOURCES)
    assert (report.deleted_digests, report.recent) == ([idle], 1)
    with blob_store.open(reused) as f:
        assert f.read() == b"written long ago, about to be referenced again"
    assert not blob_store.exists(idle)


@sqlite_only
def test_leftover_keys_and_markers_without_a_blob_are_swept_when_old(
    blob_store: BlobStore, db: Database
) -> None:
    kept = blob_store.put(b"kept")
    orphan = "ab" * 32
    # What a crash between writing a data key and publishing its object leaves behind.
    blob_store.raw.write_bytes(sidecar_key(orphan, b"\x01" * 16), b"wrapped key")
    blob_store.raw.write_bytes(used_key(orphan), b"")
    blob_store.raw.write_bytes("keys/ab/not-a-key-of-ours", b"?")
    young = sweep(db, blob_store, sources=NO_SOURCES)
    assert young.leftovers == 0
    dry = sweep(db, blob_store, sources=NO_SOURCES, now=utcnow() + LATER, dry_run=True)
    assert dry.leftovers == 2
    assert blob_store.raw.exists(used_key(orphan))
    swept = sweep(db, blob_store, sources=NO_SOURCES, now=utcnow() + LATER)
    assert swept.leftovers == 2
    assert swept.deleted_digests == [kept]
    assert _keys(blob_store) == ["keys/ab/not-a-key-of-ours"]


@sqlite_only
def test_a_negative_or_infinite_grace_period_is_refused(
    blob_store: BlobStore, db: Database
) -> None:
    digest = blob_store.put(b"stays")
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(InvalidInput, match="grace period"):
            sweep(db, blob_store, sources=NO_SOURCES, grace_s=bad)
    assert blob_store.exists(digest)
