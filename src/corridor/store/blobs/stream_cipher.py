"""The chunked AES-256-GCM stream every blob is stored as.

An encrypted stream is a header followed by chunks. Each chunk is sealed with AES-GCM under the
stream's own data key, nonce = chunk index, and associated data = header + index + final flag,
so a flipped byte, a dropped or reordered chunk, a truncated tail and a chunk moved in from
another stream all fail authentication. Nothing here touches storage; sources and sinks are
file-like objects or iterables.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TypeAlias, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from corridor.errors import IntegrityError
from corridor.store.blobs.crypto import KEY_BYTES, NONCE_BYTES

TAG_BYTES = 16
CHUNK_BYTES = 1 << 20
MIN_CHUNK_BYTES = 1 << 10
MAX_CHUNK_BYTES = 64 << 20

_MAGIC = b"CRDB"
_VERSION = 1
_HEADER = struct.Struct(">4sBI16s")  # magic, version, chunk_bytes, stream_id
HEADER_BYTES = _HEADER.size
_CHUNK_AAD = struct.Struct(">QB")  # chunk index, final flag

_Bytes: TypeAlias = bytes | bytearray | memoryview
Plaintext: TypeAlias = BinaryIO | Iterable[_Bytes] | _Bytes
"""What can be encrypted: a readable binary file, an iterable of byte strings, or bytes."""
_Filler: TypeAlias = Callable[[bytearray], int]


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
