"""Envelope encryption: master key files, data-key wrapping and the chunked AES-256-GCM stream.

An encrypted stream is a header followed by chunks. Each chunk is sealed with AES-GCM under the
stream's own data key, nonce = chunk index, and associated data = header + index + final flag,
so a flipped byte, a dropped or reordered chunk, a truncated tail and a chunk moved in from
another stream all fail authentication. Nothing here touches storage; sources and sinks are
file-like objects or iterables.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import secrets
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeAlias, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from corridor.errors import AlreadyExists, ConfigurationError, IntegrityError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
CHUNK_BYTES = 1 << 20
MIN_CHUNK_BYTES = 1 << 10
MAX_CHUNK_BYTES = 64 << 20
PENDING_SUFFIX = ".new"

_MAGIC = b"CRDB"
_VERSION = 1
_HEADER = struct.Struct(">4sBI16s")  # magic, version, chunk_bytes, stream_id
HEADER_BYTES = _HEADER.size
_CHUNK_AAD = struct.Struct(">QB")  # chunk index, final flag
_WRAP_AAD = b"corridor-data-key-v1\0"

_Bytes: TypeAlias = bytes | bytearray | memoryview
Plaintext: TypeAlias = BinaryIO | Iterable[_Bytes] | _Bytes
"""What can be encrypted: a readable binary file, an iterable of byte strings, or bytes."""
_Filler: TypeAlias = Callable[[bytearray], int]


@dataclass(frozen=True)
class MasterKey:
    """A 256-bit key-encryption key and its public identifier."""

    key: bytes = field(repr=False)
    key_id: str

    @classmethod
    def from_bytes(cls, key: bytes) -> MasterKey:
        if len(key) != KEY_BYTES:
            raise ConfigurationError(f"a master key must be {KEY_BYTES} bytes, got {len(key)}")
        # A hash of a 256-bit random key names it without revealing anything usable.
        key_id = hashlib.sha256(b"corridor-master-key-id\0" + key).hexdigest()[:16]
        return cls(key=key, key_id=key_id)


def create_master_key(path: Path) -> MasterKey:
    """Write a fresh master key to ``path`` (mode 0600); refuse to overwrite an existing file."""
    key = MasterKey.from_bytes(secrets.token_bytes(KEY_BYTES))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64encode(key.key) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        # link() publishes the complete file atomically and fails if the name is taken,
        # so a crash never leaves a half-written key and a race never loses one.
        os.link(tmp, path)
    except FileExistsError:
        raise AlreadyExists(f"master key file {path} exists already; it was left as is") from None
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return key


def load_master_key(path: Path) -> MasterKey:
    """Read a master key file written by `create_master_key`."""
    try:
        st = path.stat()
        text = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(
            f"master key file {path} does not exist: create it with `corridor init`, "
            "or point CORRIDOR_MASTER_KEY_FILE at the existing key"
        ) from None
    if os.name == "posix" and st.st_mode & 0o077:
        raise ConfigurationError(
            f"master key file {path} is readable by other users: run `chmod 600 {path}`"
        )
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise ConfigurationError(f"master key file {path} is not base64 text") from None
    return MasterKey.from_bytes(raw)


def _fsync_dir(path: Path) -> None:
    if os.name == "posix":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under the master key named by ``key_id``."""

    key_id: str
    nonce: bytes
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        b64 = base64.b64encode
        doc = {"v": 1, "key_id": self.key_id}
        doc |= {"nonce": b64(self.nonce).decode(), "wrapped": b64(self.ciphertext).decode()}
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> WrappedKey:
        try:
            doc = json.loads(data)
            if doc["v"] != 1:
                raise ValueError(f"unknown version {doc['v']!r}")
            return cls(
                key_id=str(doc["key_id"]),
                nonce=base64.b64decode(doc["nonce"], validate=True),
                ciphertext=base64.b64decode(doc["wrapped"], validate=True),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"wrapped data key is unreadable ({exc})") from None


class Keyring:
    """The master keys a process may use: the current one and, during rotation, the pending one.

    New data keys are wrapped under the pending key when there is one, so that nothing written
    while a rotation runs is left behind under the key about to be retired.
    """

    def __init__(self, current: MasterKey, pending: MasterKey | None = None) -> None:
        self.current = current
        self.pending = pending

    @classmethod
    def load(cls, path: Path) -> Keyring:
        """Load ``path`` and, if a rotation is under way, ``<path>.new``."""
        pending_path = pending_key_path(path)
        pending = load_master_key(pending_path) if pending_path.exists() else None
        return cls(load_master_key(path), pending)

    @property
    def wrapping_key(self) -> MasterKey:
        return self.pending or self.current

    def get(self, key_id: str) -> MasterKey | None:
        for key in (self.pending, self.current):
            if key is not None and key.key_id == key_id:
                return key
        return None

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey:
        """Encrypt ``data_key``; ``context`` (what the key is for) must be given again to unwrap."""
        master = self.wrapping_key
        nonce = secrets.token_bytes(NONCE_BYTES)
        ct = AESGCM(master.key).encrypt(nonce, data_key, _WRAP_AAD + context)
        return WrappedKey(master.key_id, nonce, ct)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        master = self.get(wrapped.key_id)
        if master is None:
            held = ", ".join(k.key_id for k in (self.current, self.pending) if k is not None)
            raise IntegrityError(
                f"data key is wrapped under master key {wrapped.key_id}, which is not loaded "
                f"(loaded: {held}); the master key file is the wrong one or was lost"
            )
        try:
            return AESGCM(master.key).decrypt(
                wrapped.nonce, wrapped.ciphertext, _WRAP_AAD + context
            )
        except InvalidTag:
            raise IntegrityError(
                "wrapped data key failed authentication (tampered, or moved from another object)"
            ) from None


def pending_key_path(path: Path) -> Path:
    """Where a rotation keeps the next master key until it takes over."""
    return path.with_name(path.name + PENDING_SUFFIX)


def promote_pending_key(path: Path) -> None:
    """Make ``<path>.new`` the master key, atomically, retiring the old one."""
    os.replace(pending_key_path(path), path)
    _fsync_dir(path.parent)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


@dataclass(frozen=True)
class StreamHeader:
    """The plaintext header of an encrypted stream; authenticated as part of every chunk."""

    chunk_bytes: int
    stream_id: bytes

    def to_bytes(self) -> bytes:
        return _HEADER.pack(_MAGIC, _VERSION, self.chunk_bytes, self.stream_id)

    @classmethod
    def read(cls, source: BinaryIO) -> StreamHeader:
        data = source.read(HEADER_BYTES)
        if len(data) != HEADER_BYTES:
            raise IntegrityError(
                f"stream header is truncated ({len(data)} of {HEADER_BYTES} bytes)"
            )
        magic, version, chunk_bytes, stream_id = _HEADER.unpack(data)
        if magic != _MAGIC or version != _VERSION:
            raise IntegrityError("stream header is not a Corridor encrypted stream (version 1)")
        # Bounded before use: the header is only authenticated once a chunk is opened.
        if not MIN_CHUNK_BYTES <= chunk_bytes <= MAX_CHUNK_BYTES:
            raise IntegrityError(f"stream header names an impossible chunk size {chunk_bytes}")
        return cls(chunk_bytes, stream_id)


class _ChunkCipher:
    def __init__(self, data_key: bytes, header: StreamHeader) -> None:
        self._aead = AESGCM(data_key)
        self._header = header.to_bytes()

    def _nonce_aad(self, index: int, final: bool) -> tuple[bytes, bytes]:
        # A fresh data key per stream makes the chunk counter a safe nonce.
        return index.to_bytes(NONCE_BYTES, "big"), self._header + _CHUNK_AAD.pack(index, final)


class StreamEncryptor(_ChunkCipher):
    """Encrypt one plaintext stream under a fresh stream id, hashing the plaintext on the way."""

    def __init__(self, data_key: bytes, chunk_bytes: int = CHUNK_BYTES) -> None:
        if not MIN_CHUNK_BYTES <= chunk_bytes <= MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be in [{MIN_CHUNK_BYTES}, {MAX_CHUNK_BYTES}]")
        self.header = StreamHeader(chunk_bytes, secrets.token_bytes(16))
        super().__init__(data_key, self.header)
        self.sha256 = hashlib.sha256()
        self.plaintext_bytes = 0

    def encrypt(self, source: Plaintext) -> Iterator[bytes]:
        """Yield the header, then each sealed chunk; the last one is sealed as final."""
        yield self.header.to_bytes()
        for index, (chunk, final) in enumerate(plaintext_chunks(source, self.header.chunk_bytes)):
            self.sha256.update(chunk)
            self.plaintext_bytes += len(chunk)
            nonce, aad = self._nonce_aad(index, final)
            yield self._aead.encrypt(nonce, chunk, aad)


class StreamDecryptor(_ChunkCipher):
    """Decrypt and authenticate the chunks that follow a header, hashing the plaintext."""

    def __init__(self, data_key: bytes, header: StreamHeader) -> None:
        super().__init__(data_key, header)
        self.header = header
        self.sha256 = hashlib.sha256()

    def decrypt(self, source: BinaryIO) -> Iterator[tuple[bytes, bool]]:
        """Yield ``(plaintext, is_final)`` per chunk; raise `IntegrityError` on any tampering."""
        fill = _filler(source)
        chunks = _lookahead(fill, self.header.chunk_bytes + TAG_BYTES)
        for index, (sealed, final) in enumerate(chunks):
            if len(sealed) < TAG_BYTES:
                raise IntegrityError(f"stream is truncated inside chunk {index}")
            nonce, aad = self._nonce_aad(index, final)
            try:
                plain = self._aead.decrypt(nonce, sealed, aad)
            except InvalidTag:
                raise IntegrityError(
                    f"chunk {index} failed authentication (a changed byte, a truncated or "
                    "reordered stream, or a chunk from another object)"
                ) from None
            self.sha256.update(plain)
            yield plain, final


def plaintext_chunks(source: Plaintext, chunk_bytes: int) -> Iterator[tuple[memoryview, bool]]:
    """Yield ``(chunk, is_final)`` views of ``chunk_bytes`` each (the last may be shorter).

    An empty source yields one empty final chunk. A view is valid until the next is requested.
    """
    return _lookahead(_filler(source), chunk_bytes)


def _lookahead(fill: _Filler, size: int) -> Iterator[tuple[memoryview, bool]]:
    # Only the absence of a next chunk marks a chunk as final, so read one ahead; two buffers
    # alternate so that the lookahead costs no copy.
    bufs = (bytearray(size), bytearray(size))
    n, i = fill(bufs[0]), 0
    while True:
        nxt = fill(bufs[(i + 1) % 2]) if n == size else 0
        yield memoryview(bufs[i % 2])[:n], nxt == 0
        if nxt == 0:
            return
        i, n = i + 1, nxt


def _filler(source: Plaintext) -> _Filler:
    """Return a function that fills a buffer from ``source``, short only at the end."""
    if isinstance(source, bytes | bytearray | memoryview):
        return _iter_filler((source,))
    if hasattr(source, "read"):
        return functools.partial(_read_full, cast(BinaryIO, source))
    return _iter_filler(source)


def _read_full(source: BinaryIO, buf: bytearray) -> int:
    view, got = memoryview(buf), 0
    readinto = getattr(source, "readinto", None)
    while got < len(buf):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            piece = source.read(len(buf) - got)
            n = len(piece)
            view[got : got + n] = piece
        if not n:
            break
        got += n
    return got


def _iter_filler(source: Iterable[_Bytes]) -> _Filler:
    pieces = iter(source)
    rest = memoryview(b"")

    def fill(buf: bytearray) -> int:
        nonlocal rest
        got = 0
        while got < len(buf):
            if not rest:
                piece = next(pieces, None)
                if piece is None:
                    break
                rest = memoryview(piece).cast("B")
                continue
            take = min(len(rest), len(buf) - got)
            buf[got : got + take] = rest[:take]
            got, rest = got + take, rest[take:]
        return got

    return fill
