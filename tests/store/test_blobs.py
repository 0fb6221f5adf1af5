"""Contract tests of the blob store, run against every backend (local folder, S3 via moto)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from corridor.config import Settings
from corridor.errors import BlobCorrupted, ConfigurationError, InvalidInput, NotFound
from corridor.store.blobs import BlobStore, open_blob_store
from corridor.store.blobs.crypto import (
    Keyring,
    WrappedKey,
    load_master_key,
    pending_key_path,
)
from corridor.store.blobs.layout import (
    key_context,
    object_key,
    parse_sidecar_key,
    sidecar_key,
)
from corridor.store.blobs.rotation import rotate_master_key
from corridor.store.blobs.stream_cipher import (
    HEADER_BYTES,
    TAG_BYTES,
    StreamEncryptor,
    new_data_key,
)
from tests.peak_rss import REPO_ROOT

BlobStoreFactory = Callable[[], BlobStore]
TEST_CHUNK_BYTES = 4096  # what the blob_store fixture uses
SEALED = TEST_CHUNK_BYTES + TAG_BYTES
MARKER = b"CORRIDOR-PLAINTEXT-MARKER-0123456789"


def _data(n: int) -> bytes:
    return (MARKER * (n // len(MARKER) + 1))[:n]


def _read_raw(store: BlobStore, key: str) -> bytes:
    with store.raw.open_read(key) as f:
        return f.read()


def _all_raw_keys(store: BlobStore) -> list[str]:
    return sorted(store.raw.list(""))


def _sidecars(store: BlobStore) -> list[str]:
    return sorted(store.raw.list("keys/"))


@pytest.mark.parametrize(
    "size", [0, 1, TEST_CHUNK_BYTES - 1, TEST_CHUNK_BYTES, TEST_CHUNK_BYTES + 1, 3 * SEALED + 7]
)
def test_put_then_open_round_trips_and_the_digest_is_the_plaintext_sha256(
    blob_store: BlobStore, size: int
) -> None:
    data = _data(size)
    digest = blob_store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert blob_store.exists(digest)
    assert blob_store.size(digest) == size
    with blob_store.open(digest) as f:
        assert f.read() == data
    with blob_store.open(digest) as f:
        assert b"".join(iter(lambda: f.read(1000), b"")) == data


def test_put_accepts_a_file_an_iterable_and_bytes(blob_store: BlobStore) -> None:
    data = _data(2 * TEST_CHUNK_BYTES + 5)
    pieces = (data[i : i + 777] for i in range(0, len(data), 777))
    digests = {blob_store.put(io.BytesIO(data)), blob_store.put(pieces), blob_store.put(data)}
    assert digests == {hashlib.sha256(data).hexdigest()}


def test_put_of_existing_content_keeps_one_object_and_one_key(blob_store: BlobStore) -> None:
    data = _data(10_000)
    first = blob_store.put(data)
    before = _all_raw_keys(blob_store)
    assert blob_store.put(data) == first
    assert _all_raw_keys(blob_store) == before
    assert len(_sidecars(blob_store)) == 1


def test_failed_put_leaves_no_object_key_or_temporary(blob_store: BlobStore) -> None:
    def broken() -> Iterator[bytes]:
        yield _data(3 * TEST_CHUNK_BYTES)
        raise OSError("client went away")

    with pytest.raises(OSError, match="went away"):
        blob_store.put(broken())
    assert _all_raw_keys(blob_store) == []


def test_open_of_a_missing_digest_raises_not_found(blob_store: BlobStore) -> None:
    missing = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(NotFound, match=missing):
        blob_store.open(missing)
    with pytest.raises(NotFound):
        blob_store.size(missing)
    assert not blob_store.exists(missing)
    assert blob_store.delete(missing) is False


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "A" * 64, "g" * 64, "0" * 63, "0" * 65, "../" + "0" * 61, "00/" + "0" * 61],
)
def test_malformed_digests_are_invalid_input(blob_store: BlobStore, bad: str) -> None:
    for call in (blob_store.open, blob_store.exists, blob_store.delete, blob_store.size):
        with pytest.raises(InvalidInput, match="not a blob digest"):
            call(bad)


def test_delete_removes_the_object_and_its_key(blob_store: BlobStore) -> None:
    keep = blob_store.put(b"keep")
    gone = blob_store.put(b"gone")
    assert blob_store.delete(gone) is True
    assert not blob_store.exists(gone)
    assert list(blob_store.digests()) == [keep]
    assert all(gone not in key for key in _all_raw_keys(blob_store))


def test_bytes_at_rest_never_contain_the_plaintext(blob_store: BlobStore) -> None:
    blob_store.put(_data(5 * TEST_CHUNK_BYTES))
    blob_store.put(MARKER)
    for key in _all_raw_keys(blob_store):
        assert MARKER[:16] not in _read_raw(blob_store, key)


@pytest.mark.parametrize(
    "offset",
    [0, 5, 12, HEADER_BYTES + 3, HEADER_BYTES + SEALED - 1, HEADER_BYTES + SEALED + 100, -1],
    ids=["magic", "chunk-size", "stream-id", "chunk-0", "tag-0", "chunk-1", "last-byte"],
)
def test_a_flipped_bit_anywhere_fails_the_read(blob_store: BlobStore, offset: int) -> None:
    digest = blob_store.put(_data(3 * TEST_CHUNK_BYTES + 10))
    stored = bytearray(_read_raw(blob_store, object_key(digest)))
    stored[offset] ^= 0x01
    blob_store.raw.write_bytes(object_key(digest), bytes(stored))
    with (
        pytest.raises(BlobCorrupted, match=rf"blob {digest} failed verification"),
        blob_store.open(digest) as f,
    ):
        f.read()


@pytest.mark.parametrize(
    "keep",
    [HEADER_BYTES + SEALED, HEADER_BYTES + 2 * SEALED, HEADER_BYTES + SEALED + 7, 10, 0],
    ids=["one-chunk-left", "two-chunks-left", "mid-chunk", "inside-header", "empty"],
)
def test_truncation_is_detected(blob_store: BlobStore, keep: int) -> None:
    digest = blob_store.put(_data(3 * TEST_CHUNK_BYTES + 10))
    stored = _read_raw(blob_store, object_key(digest))
    blob_store.raw.write_bytes(object_key(digest), stored[:keep])
    with pytest.raises(BlobCorrupted, match=digest), blob_store.open(digest) as f:
        f.read()
    if keep < HEADER_BYTES + TAG_BYTES:
        with pytest.raises(BlobCorrupted, match=digest):
            blob_store.size(digest)


def test_reordered_chunks_are_detected(blob_store: BlobStore) -> None:
    digest = blob_store.put(_data(3 * TEST_CHUNK_BYTES + 10))
    stored = _read_raw(blob_store, object_key(digest))
    head, body = stored[:HEADER_BYTES], stored[HEADER_BYTES:]
    c0, c1, rest = body[:SEALED], body[SEALED : 2 * SEALED], body[2 * SEALED :]
    blob_store.raw.write_bytes(object_key(digest), head + c1 + c0 + rest)
    with (
        pytest.raises(BlobCorrupted, match="chunk 0 failed authentication"),
        blob_store.open(digest) as f,
    ):
        f.read()


def test_a_failed_read_keeps_failing_instead_of_ending_quietly(blob_store: BlobStore) -> None:
    digest = blob_store.put(_data(3 * TEST_CHUNK_BYTES))
    stored = bytearray(_read_raw(blob_store, object_key(digest)))
    stored[HEADER_BYTES + SEALED + 1] ^= 0xFF
    blob_store.raw.write_bytes(object_key(digest), bytes(stored))
    f = blob_store.open(digest)
    assert len(f.read(TEST_CHUNK_BYTES)) == TEST_CHUNK_BYTES
    for _ in range(2):
        with pytest.raises(BlobCorrupted, match="chunk 1"):
            f.read(TEST_CHUNK_BYTES)
    f.close()


def test_swapped_objects_are_detected(blob_store: BlobStore) -> None:
    a, b = blob_store.put(_data(9000)), blob_store.put(_data(9001))
    data_a, data_b = (_read_raw(blob_store, object_key(d)) for d in (a, b))
    blob_store.raw.write_bytes(object_key(a), data_b)
    blob_store.raw.write_bytes(object_key(b), data_a)
    for digest in (a, b):
        with pytest.raises(BlobCorrupted, match=f"blob {digest}.*data key .* is missing"):
            blob_store.open(digest)


def test_objects_swapped_together_with_their_keys_are_detected(blob_store: BlobStore) -> None:
    a, b = blob_store.put(_data(9000)), blob_store.put(_data(9001))
    (key_b,) = [k for k in _sidecars(blob_store) if b in k]
    stream_b = key_b.rpartition(".")[2]
    # b's data and b's key, filed under a's digest: the wrapped key is bound to b's digest.
    blob_store.raw.write_bytes(object_key(a), _read_raw(blob_store, object_key(b)))
    blob_store.raw.write_bytes(
        sidecar_key(a, bytes.fromhex(stream_b)), _read_raw(blob_store, key_b)
    )
    with pytest.raises(BlobCorrupted, match=f"blob {a}.*wrapped data key failed authentication"):
        blob_store.open(a)


def test_a_plaintext_that_does_not_hash_to_its_digest_is_rejected(blob_store: BlobStore) -> None:
    # A well-formed, correctly keyed object filed under the wrong digest: only the hash knows.
    claimed = hashlib.sha256(b"what the caller asked for").hexdigest()
    data_key = new_data_key()
    encryptor = StreamEncryptor(data_key, TEST_CHUNK_BYTES)
    stored = b"".join(encryptor.encrypt(_data(2 * TEST_CHUNK_BYTES)))
    sid = encryptor.header.stream_id
    wrapped = blob_store.keys.get().wrap(data_key, key_context(claimed, sid))
    blob_store.raw.write_bytes(sidecar_key(claimed, sid), wrapped.to_bytes())
    blob_store.raw.write_bytes(object_key(claimed), stored)
    with blob_store.open(claimed) as f:
        assert len(f.read(TEST_CHUNK_BYTES)) == TEST_CHUNK_BYTES
        with pytest.raises(BlobCorrupted, match=f"blob {claimed}.*plaintext hashes to"):
            f.read()


def _put_many(store: BlobStore) -> dict[str, bytes]:
    blobs = {}
    for i in range(5):
        data = _data(1000 * i + 3) + bytes([i])
        blobs[store.put(data)] = data
    return blobs


def _assert_readable(store: BlobStore, blobs: dict[str, bytes]) -> None:
    for digest, data in blobs.items():
        with store.open(digest) as f:
            assert f.read() == data


def test_rotation_keeps_every_blob_readable_and_retires_the_old_key(
    blob_store: BlobStore, make_blob_store: BlobStoreFactory, master_key_file: Path
) -> None:
    blobs = _put_many(blob_store)
    old = load_master_key(master_key_file)
    stored = {d: _read_raw(blob_store, object_key(d)) for d in blobs}

    report = blob_store.rotate_master_key()

    new = load_master_key(master_key_file)
    assert (report.old_key_id, report.new_key_id) == (old.key_id, new.key_id)
    assert report.rewrapped == len(blobs)
    assert not report.unreadable
    assert not pending_key_path(master_key_file).exists()
    assert master_key_file.stat().st_mode & 0o777 == 0o600
    # Data untouched; every key now opens with the new master key alone.
    assert {d: _read_raw(blob_store, object_key(d)) for d in blobs} == stored
    only_new = Keyring(new)
    for key in _sidecars(blob_store):
        parsed = parse_sidecar_key(key)
        assert parsed is not None
        only_new.unwrap(WrappedKey.from_bytes(_read_raw(blob_store, key)), key_context(*parsed))
    _assert_readable(blob_store, blobs)
    _assert_readable(make_blob_store(), blobs)


class _Crash(BaseException):
    pass


class _CrashAfter:
    """A raw store that dies after ``n`` small writes, like a process killed mid-rotation."""

    def __init__(self, raw: object, n: int) -> None:
        self._raw, self._left = raw, n

    def __getattr__(self, name: str) -> object:
        return getattr(self._raw, name)

    def write_bytes(self, key: str, data: bytes) -> None:
        if self._left == 0:
            raise _Crash
        self._left -= 1
        self._raw.write_bytes(key, data)  # type: ignore[attr-defined]


def test_interrupted_rotation_leaves_all_readable_and_a_rerun_finishes(
    blob_store: BlobStore, make_blob_store: BlobStoreFactory, master_key_file: Path
) -> None:
    blobs = _put_many(blob_store)
    old = load_master_key(master_key_file)
    with pytest.raises(_Crash):
        rotate_master_key(_CrashAfter(blob_store.raw, 2), master_key_file)  # type: ignore[arg-type]

    pending = load_master_key(pending_key_path(master_key_file))
    ids = {WrappedKey.from_bytes(_read_raw(blob_store, k)).key_id for k in _sidecars(blob_store)}
    assert ids == {old.key_id, pending.key_id}
    _assert_readable(make_blob_store(), blobs)
    # Writes during the rotation are wrapped under the key about to take over.
    late = blob_store.put(b"written mid-rotation")
    (late_key,) = [k for k in _sidecars(blob_store) if late in k]
    assert WrappedKey.from_bytes(_read_raw(blob_store, late_key)).key_id == pending.key_id

    report = rotate_master_key(blob_store.raw, master_key_file)

    assert report.new_key_id == pending.key_id
    assert report.rewrapped == len(blobs) - 2
    assert report.already_new == 3
    assert load_master_key(master_key_file) == pending
    assert not pending_key_path(master_key_file).exists()
    _assert_readable(make_blob_store(), {**blobs, late: b"written mid-rotation"})


def test_open_blob_store_follows_the_settings(
    blob_settings: Settings, master_key_file: Path
) -> None:
    store = open_blob_store(blob_settings)
    digest = store.put(b"via settings")
    assert store.raw.url == blob_settings.effective_blob_url.rstrip("/")
    assert open_blob_store(blob_settings).open(digest).read() == b"via settings"


def test_unknown_blob_url_scheme_is_a_configuration_error(home: Path) -> None:
    with pytest.raises(ConfigurationError, match="file://, s3://"):
        open_blob_store(Settings(home=home, blob_url="ftp://example.org/blobs"))


def test_a_missing_master_key_is_a_configuration_error(home: Path) -> None:
    with pytest.raises(ConfigurationError, match="corridor init"):
        open_blob_store(Settings(home=home))


@pytest.mark.slow
def test_a_2gb_blob_streams_through_put_and_open_in_bounded_memory(tmp_path: Path) -> None:
    size = 2 * 1024**3
    out = subprocess.run(
        [sys.executable, "-m", "tests.store.blob_memory_probe", str(tmp_path), str(size)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=540,
    ).stdout
    result = json.loads(out)
    assert result["put_digest"] == result["read_digest"] == result["expected_digest"]
    assert result["read_bytes"] == size
    assert result["peak_rss_mib"] < 300, result
    assert result["temporaries_left"] == []


def test_an_open_blob_reads_like_a_binary_file(blob_store: BlobStore) -> None:
    lines = [f"line {i} ".encode() * (i % 7 + 1) + b"\n" for i in range(2000)]
    data = b"".join(lines)
    digest = blob_store.put(data)
    with blob_store.open(digest) as f:
        assert f.readable()
        assert list(f) == lines
    with blob_store.open(digest) as f:
        assert f.read(0) == b""
        buf = bytearray(TEST_CHUNK_BYTES + 100)
        assert f.readinto(buf) == len(buf)
        assert f.read1(50) == data[len(buf) : len(buf) + 50]
        assert bytes(buf) + data[len(buf) : len(buf) + 50] + f.read() == data
        assert f.read() == b""


def test_s3_multipart_puts_and_failed_uploads_leave_nothing_behind(
    home: Path, s3_bucket: str, s3_endpoint: str, master_key_file: Path
) -> None:
    settings = Settings(home=home, blob_url=f"s3://{s3_bucket}", s3_endpoint_url=s3_endpoint)
    store = open_blob_store(settings)  # default 1 MiB chunks, 8 MiB upload parts
    data = os.urandom(9 << 20)
    digest = store.put(data)
    assert store.open(digest).read() == data

    def broken() -> Iterator[bytes]:
        yield data  # more than one part: a multipart upload is under way when this fails
        raise OSError("client went away")

    with pytest.raises(OSError, match="went away"):
        store.put(broken())
    assert sorted(store.raw.list("")) == sorted([object_key(digest), *_sidecars(store)])
    assert store.raw.fs.list_multipart_uploads(s3_bucket) == []  # type: ignore[attr-defined]
