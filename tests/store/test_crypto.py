"""Unit tests of envelope encryption: key files, wrapping and the chunked AES-GCM stream."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from corridor.errors import AlreadyExists, ConfigurationError, IntegrityError
from corridor.store.blobs.crypto import (
    Keyring,
    MasterKey,
    WrappedKey,
    create_master_key,
    load_master_key,
    pending_key_path,
    promote_pending_key,
)
from corridor.store.blobs.stream_cipher import (
    HEADER_BYTES,
    MAX_CHUNK_BYTES,
    MIN_CHUNK_BYTES,
    TAG_BYTES,
    StreamDecryptor,
    StreamEncryptor,
    StreamHeader,
    new_data_key,
    plaintext_chunks,
)

CHUNK = MIN_CHUNK_BYTES
SEALED = CHUNK + TAG_BYTES


def _encrypt(data: bytes, key: bytes) -> bytes:
    return b"".join(StreamEncryptor(key, CHUNK).encrypt(data))


def _decrypt(stored: bytes, key: bytes) -> bytes:
    source = io.BytesIO(stored)
    decryptor = StreamDecryptor(key, StreamHeader.read(source))
    return b"".join(plain for plain, _final in decryptor.decrypt(source))


def test_create_master_key_writes_a_private_file_that_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    created = create_master_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_master_key(path) == created
    assert len(created.key) == 32
    assert len(created.key_id) == 16
    assert created.key.hex() not in repr(created)
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]


def test_create_master_key_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first = create_master_key(path)
    with pytest.raises(AlreadyExists, match="exists already"):
        create_master_key(path)
    assert load_master_key(path) == first


def test_key_ids_differ_between_keys_and_are_stable() -> None:
    a, b = MasterKey.from_bytes(b"a" * 32), MasterKey.from_bytes(b"b" * 32)
    assert a.key_id != b.key_id
    assert MasterKey.from_bytes(b"a" * 32).key_id == a.key_id


def test_load_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    create_master_key(path)
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        load_master_key(path)


@pytest.mark.parametrize("content", [b"not base64 !!", b"c2hvcnQ=\n"], ids=["garbage", "short"])
def test_load_rejects_a_malformed_key_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(ConfigurationError, match="master key"):
        load_master_key(path)


def test_load_of_a_missing_key_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="corridor init"):
        load_master_key(tmp_path / "absent.key")


def test_keyring_loads_a_pending_key_and_wraps_under_it(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    current = create_master_key(path)
    assert Keyring.load(path).wrapping_key == current
    pending = create_master_key(pending_key_path(path))
    ring = Keyring.load(path)
    assert (ring.current, ring.pending, ring.wrapping_key) == (current, pending, pending)
    promote_pending_key(path)
    assert load_master_key(path) == pending
    assert not pending_key_path(path).exists()


def test_wrap_then_unwrap_returns_the_data_key_under_either_loaded_key() -> None:
    old, new = MasterKey.from_bytes(b"o" * 32), MasterKey.from_bytes(b"n" * 32)
    data_key = new_data_key()
    wrapped_old = Keyring(old).wrap(data_key, b"ctx")
    both = Keyring(old, new)
    wrapped_new = both.wrap(data_key, b"ctx")
    assert (wrapped_old.key_id, wrapped_new.key_id) == (old.key_id, new.key_id)
    assert both.unwrap(wrapped_old, b"ctx") == both.unwrap(wrapped_new, b"ctx") == data_key
    assert WrappedKey.from_bytes(wrapped_new.to_bytes()) == wrapped_new


def test_unwrap_rejects_another_context_an_unknown_key_and_tampering() -> None:
    key = MasterKey.from_bytes(b"k" * 32)
    ring = Keyring(key)
    wrapped = ring.wrap(new_data_key(), b"blob-a")
    with pytest.raises(IntegrityError, match="failed authentication"):
        ring.unwrap(wrapped, b"blob-b")
    with pytest.raises(IntegrityError, match=f"master key {key.key_id}, which is not loaded"):
        Keyring(MasterKey.from_bytes(b"x" * 32)).unwrap(wrapped, b"blob-a")
    flipped = WrappedKey(wrapped.key_id, wrapped.nonce, bytes([wrapped.ciphertext[0] ^ 1]))
    with pytest.raises(IntegrityError):
        ring.unwrap(flipped, b"blob-a")
    with pytest.raises(IntegrityError, match="unreadable"):
        WrappedKey.from_bytes(b"{not json")


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 5 * CHUNK + 3])
def test_stream_round_trips_and_hashes_the_plaintext(size: int) -> None:
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    key = new_data_key()
    encryptor = StreamEncryptor(key, CHUNK)
    stored = b"".join(encryptor.encrypt(data))
    chunks = max(1, -(-size // CHUNK))
    assert len(stored) == HEADER_BYTES + size + chunks * TAG_BYTES
    assert encryptor.sha256.hexdigest() == hashlib.sha256(data).hexdigest()
    assert encryptor.plaintext_bytes == size
    assert _decrypt(stored, key) == data


def test_each_stream_gets_its_own_id_and_ciphertext() -> None:
    key = new_data_key()
    a, b = _encrypt(b"same" * 1000, key), _encrypt(b"same" * 1000, key)
    assert a[:HEADER_BYTES] != b[:HEADER_BYTES]
    assert a[HEADER_BYTES:] != b[HEADER_BYTES:]


def test_only_the_last_chunk_is_marked_final() -> None:
    key = new_data_key()
    stored = _encrypt(b"z" * (3 * CHUNK), key)
    source = io.BytesIO(stored)
    flags = [final for _, final in StreamDecryptor(key, StreamHeader.read(source)).decrypt(source)]
    assert flags == [False, False, True]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[: HEADER_BYTES + 2 * SEALED],  # whole chunks dropped from the end
        lambda s: s[:-1],  # one byte short
        lambda s: s + b"\0",  # one byte long
        lambda s: s[:HEADER_BYTES] + s[HEADER_BYTES + SEALED :],  # first chunk dropped
        lambda s: s[:HEADER_BYTES] + s[HEADER_BYTES + SEALED : HEADER_BYTES + 2 * SEALED]
        + s[HEADER_BYTES : HEADER_BYTES + SEALED] + s[HEADER_BYTES + 2 * SEALED :],  # swapped
        lambda s: s[:40] + bytes([s[40] ^ 0x80]) + s[41:],  # a flipped bit
    ],
    ids=["drop-tail-chunks", "short", "long", "drop-first-chunk", "reorder", "flip"],
)  # fmt: skip
def test_tampered_streams_fail_authentication(tamper: Callable[[bytes], bytes]) -> None:
    key = new_data_key()
    stored = _encrypt(b"q" * (3 * CHUNK + 10), key)
    with pytest.raises(IntegrityError, match=r"chunk|truncated"):
        _decrypt(tamper(stored), key)


def test_a_chunk_from_another_stream_under_the_same_key_is_rejected() -> None:
    key = new_data_key()
    a, b = _encrypt(b"a" * (2 * CHUNK), key), _encrypt(b"b" * (2 * CHUNK), key)
    spliced = a[: HEADER_BYTES + SEALED] + b[HEADER_BYTES + SEALED :]
    with pytest.raises(IntegrityError, match="chunk 1 failed authentication"):
        _decrypt(spliced, key)


def test_a_wrong_data_key_fails_on_the_first_chunk() -> None:
    stored = _encrypt(b"secret" * 100, new_data_key())
    with pytest.raises(IntegrityError, match="chunk 0 failed authentication"):
        _decrypt(stored, new_data_key())


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"short", "truncated"),
        (b"NOPE" + bytes(HEADER_BYTES - 4), "not a Corridor encrypted stream"),
        (StreamHeader(MAX_CHUNK_BYTES, bytes(16)).to_bytes()[:5] + b"\xff" * 4 + bytes(16),
         "impossible chunk size"),
    ],
    ids=["truncated", "magic", "huge-chunks"],
)  # fmt: skip
def test_bad_headers_are_rejected_before_any_allocation(header: bytes, message: str) -> None:
    with pytest.raises(IntegrityError, match=message):
        StreamHeader.read(io.BytesIO(header))


def test_plaintext_chunks_regroups_any_source_into_fixed_chunks() -> None:
    data = bytes(range(200)) * 30
    expected = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    pieces = [data[i : i + 333] for i in range(0, len(data), 333)]
    for source in (data, io.BytesIO(data), iter(pieces), [memoryview(data)]):
        got = [(bytes(c), final) for c, final in plaintext_chunks(source, CHUNK)]
        assert [c for c, _ in got] == expected
        assert [f for _, f in got] == [False] * (len(expected) - 1) + [True]
    assert [(bytes(c), f) for c, f in plaintext_chunks(b"", CHUNK)] == [(b"", True)]


def test_stream_encryptor_rejects_chunk_sizes_out_of_range() -> None:
    for bad in (MIN_CHUNK_BYTES - 1, MAX_CHUNK_BYTES + 1):
        with pytest.raises(ValueError, match="chunk_bytes"):
            StreamEncryptor(new_data_key(), bad)
