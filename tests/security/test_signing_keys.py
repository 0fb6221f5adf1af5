"""The server's package signing keys: created on first use, stored encrypted, rotated."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from corridor.config import Settings
from corridor.security import signing_keys
from corridor.security.signing_models import SigningKey
from corridor.store.blobs import BlobStore, open_raw_store
from corridor.store.blobs.crypto import create_master_key
from corridor.store.blobs.layout import object_key
from corridor.store.blobs.references import referenced_digests
from corridor.store.db import Database


@pytest.fixture
def blobs(home: Path) -> BlobStore:
    key = home / "master.key"
    create_master_key(key)
    settings = Settings(home=home, blob_url=(home / "blobs").as_uri())
    return BlobStore(open_raw_store(settings.effective_blob_url, settings), key)


def _referenced(db: Database) -> set[str]:
    with db.read() as session:
        return referenced_digests(session, {"signing": signing_keys.referenced_blobs})


def test_the_first_key_is_made_on_first_use_and_kept_encrypted(
    db: Database, blobs: BlobStore
) -> None:
    with db.read() as session:
        assert signing_keys.list_keys(session) == []
    with db.write() as session:
        first = signing_keys.active_key(session, blobs, by="alice")
    with db.write() as session:
        again = signing_keys.active_key(session, blobs, by="bob")
    assert again.key_id == first.key_id
    with db.read() as session:
        [row] = signing_keys.list_keys(session)
        assert (row.created_by, row.retired_at, row.algorithm) == (
            "alice",
            None,
            "ecdsa-p256-sha256",
        )
        assert row.id == hashlib.sha256(row.public_pem.encode()).hexdigest()
        assert row.private_key_digest is not None
        digest = row.private_key_digest
    # The private half is a blob: nothing of it is readable at rest, and the sweep keeps it.
    with blobs.raw.open_read(object_key(digest)) as f:
        assert b"PRIVATE KEY" not in f.read()
    with blobs.open(digest) as f:
        assert f.read().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert _referenced(db) == {digest}


def test_rotation_retires_the_key_and_drops_its_private_half(
    db: Database, blobs: BlobStore
) -> None:
    with db.write() as session:
        old = signing_keys.active_key(session, blobs, by="alice")
    with db.write() as session:
        new = signing_keys.rotate(session, blobs, by="root")
    with db.write() as session:
        assert signing_keys.active_key(session, blobs, by="x").key_id == new.id != old.key_id
    with db.read() as session:
        retired = session.get(SigningKey, old.key_id)
        assert retired is not None
        assert retired.retired_at is not None
        assert retired.private_key_digest is None
        assert set(signing_keys.public_keys(session)) == {old.key_id, new.id}
        assert [k.id for k in signing_keys.list_keys(session)] == [old.key_id, new.id]
    assert _referenced(db) == {new.private_key_digest}


def test_two_first_signings_at_once_make_one_key(db: Database, blobs: BlobStore) -> None:
    first_made = threading.Event()
    release = threading.Event()
    found: dict[str, str] = {}

    def first() -> None:
        with db.write() as session:
            found["first"] = signing_keys.active_key(session, blobs, by="a").key_id
            first_made.set()
            release.wait(10)  # holds its uncommitted key (and the lock) meanwhile

    def second() -> None:
        first_made.wait(10)
        with db.write() as session:
            found["second"] = signing_keys.active_key(session, blobs, by="b").key_id

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_made.wait(10)
    time.sleep(0.5)  # let the second reach its lock (PostgreSQL) or its BEGIN (SQLite)
    release.set()
    for thread in threads:
        thread.join(20)
    with db.read() as session:
        assert [k.id for k in signing_keys.list_keys(session)] == [found["first"]]
    assert found["second"] == found["first"]
