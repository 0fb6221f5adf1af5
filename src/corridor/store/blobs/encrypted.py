"""The blob store: content-addressed, encrypted at rest, streamed both ways, on any `RawStore`.

Where each part lives in the raw store is `corridor.store.blobs.layout`. The data names its key
sidecar by the random stream id in its header, so two racing puts of the same content can never pair
one's data with the other's key, and rotation rewrites only the sidecars. The ``used`` marker tells
the blob sweep (`corridor.store.blob_sweep`) that a writer is about to reference content that was
already stored, so that its grace period counts from that moment rather than from the object's first
write. (A `put` of existing content needs no marker: its commit publishes the object again if a
sweep removed it meanwhile.)
"""

from __future__ import annotations

import datetime as dt
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, cast

from corridor.errors import BlobCorrupted, IntegrityError, NotFound
from corridor.store.blobs.base import RawStat, RawStore
from corridor.store.blobs.crypto import (
    Keyring,
    WrappedKey,
    pending_key_path,
)
from corridor.store.blobs.layout import (
    KEYS,
    OBJECTS,
    check_digest,
    is_digest,
    key_context,
    object_key,
    sidecar_key,
    used_key,
)
from corridor.store.blobs.stream_cipher import (
    CHUNK_BYTES,
    HEADER_BYTES,
    TAG_BYTES,
    Plaintext,
    StreamDecryptor,
    StreamEncryptor,
    StreamHeader,
    new_data_key,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from corridor.store.blobs.rotation import RotationReport


class KeyringFile:
    """The keyring in a key file (plus a rotation's pending key), reloaded when the files change.

    Checking on every use lets a process notice a rotation run by another one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cached: tuple[object, Keyring] | None = None
        self.get()

    def _signature(self) -> object:
        sig: list[tuple[int, int, int] | None] = []
        for p in (self.path, pending_key_path(self.path)):
            try:
                st = p.stat()
            except FileNotFoundError:
                sig.append(None)
            else:
                sig.append((st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(sig)

    def get(self) -> Keyring:
        sig = self._signature()
        cached = self._cached
        if cached is None or cached[0] != sig:
            cached = self._cached = (sig, Keyring.load(self.path))
        return cached[1]


class BlobStat(NamedTuple):
    """A stored blob: its encrypted size at rest and when it was last written or touched."""

    digest: str
    stored_bytes: int
    last_used_at: dt.datetime


class BlobStore:
    """Put, open, test and delete blobs by digest; every byte at rest is encrypted."""

    def __init__(self, raw: RawStore, key_file: Path, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.raw = raw
        self.keys = KeyringFile(key_file)
        self.chunk_bytes = chunk_bytes

    def put(self, source: Plaintext) -> str:
        """Store a binary file, an iterable of byte strings, or bytes; return its digest."""
        data_key = new_data_key()
        encryptor = StreamEncryptor(data_key, self.chunk_bytes)
        writer = self.raw.open_write()
        try:
            for piece in encryptor.encrypt(source):
                writer.write(piece)
            digest = encryptor.sha256.hexdigest()
            stream_id = encryptor.header.stream_id
            wrapped = self.keys.get().wrap(data_key, key_context(digest, stream_id))
            # Key first, then data: a crash in between leaves only an unreferenced sidecar.
            self.raw.write_bytes(sidecar_key(digest, stream_id), wrapped.to_bytes())
            if not writer.commit(object_key(digest)):
                # The content was there already: keep that copy, drop this one's key.
                self.raw.delete(sidecar_key(digest, stream_id))
            return digest
        finally:
            writer.abort()

    def open(self, digest: str) -> BinaryIO:
        """Open a blob for reading; each chunk is verified before it is returned.

        Raise `NotFound` if absent, `BlobCorrupted` (now or on a later read) if tampered with.
        """
        check_digest(digest)
        try:
            stream = self.raw.open_read(object_key(digest))
        except NotFound:
            raise NotFound(f"blob {digest} does not exist") from None
        try:
            header = StreamHeader.read(stream)
            data_key = self._data_key(digest, header)
        except IntegrityError as exc:
            stream.close()
            raise _corrupted(digest, exc) from None
        except BaseException:
            stream.close()
            raise
        return cast(BinaryIO, BlobReader(digest, stream, StreamDecryptor(data_key, header)))

    def _data_key(self, digest: str, header: StreamHeader) -> bytes:
        key = sidecar_key(digest, header.stream_id)
        try:
            with self.raw.open_read(key) as f:
                wrapped = WrappedKey.from_bytes(f.read())
        except NotFound:
            raise IntegrityError(f"its data key {key} is missing") from None
        return self.keys.get().unwrap(wrapped, key_context(digest, header.stream_id))

    def exists(self, digest: str) -> bool:
        return self.raw.exists(object_key(check_digest(digest)))

    def size(self, digest: str) -> int:
        """Return the plaintext size in bytes, computed from the stored size and chunk size."""
        check_digest(digest)
        try:
            stored = self.raw.size(object_key(digest))
            with self.raw.open_read(object_key(digest)) as f:
                header = StreamHeader.read(f)
        except NotFound:
            raise NotFound(f"blob {digest} does not exist") from None
        except IntegrityError as exc:
            raise _corrupted(digest, exc) from None
        body = stored - HEADER_BYTES
        if body < TAG_BYTES:
            raise _corrupted(digest, IntegrityError("it is shorter than one sealed chunk"))
        # Every chunk but the last is full, and even an empty last chunk carries its tag.
        chunks = -(-body // (header.chunk_bytes + TAG_BYTES))
        return body - chunks * TAG_BYTES

    def touch(self, digest: str) -> bool:
        """Note that ``digest`` is about to be referenced again; return whether it exists.

        Call it instead of `exists` before recording a reference to content that may already
        be stored, so that a blob sweep gives the reference its whole grace period.
        """
        check_digest(digest)
        # Marker first: a sweep that sees the object also sees a fresh use.
        self.raw.write_bytes(used_key(digest), b"")
        if self.raw.exists(object_key(digest)):
            return True
        self.raw.delete(used_key(digest))
        return False

    def stat(self, digest: str) -> BlobStat:
        """Return the stored size of a blob and when it was last written or touched."""
        check_digest(digest)
        try:
            found = self.raw.stat(object_key(digest))
        except NotFound:
            raise NotFound(f"blob {digest} does not exist") from None
        used = self._stat_or_none(used_key(digest))
        last = max(found.modified_at, used.modified_at) if used else found.modified_at
        return BlobStat(digest, found.size_bytes, last)

    def _stat_or_none(self, key: str) -> RawStat | None:
        try:
            return self.raw.stat(key)
        except NotFound:
            return None

    def delete(self, digest: str) -> bool:
        """Remove a blob, its key and its marker; return whether it existed."""
        existed = self.raw.delete(object_key(check_digest(digest)))
        for key in list(self.raw.list(f"{KEYS}{digest[:2]}/{digest}.")):
            self.raw.delete(key)
        self.raw.delete(used_key(digest))
        return existed

    def digests(self) -> Iterator[str]:
        """Yield the digest of every stored blob, in no particular order."""
        for key in self.raw.list(OBJECTS):
            name = key.rpartition("/")[2]
            if is_digest(name):
                yield name

    def rotate_master_key(self) -> RotationReport:
        """Re-wrap every data key under a new master key; see `rotation.rotate_master_key`."""
        from corridor.store.blobs.rotation import rotate_master_key

        return rotate_master_key(self.raw, self.keys.path)


class BlobReader(io.BufferedIOBase):
    """The decrypted bytes of one blob; the whole-blob digest is checked before the last chunk.

    A ``read`` that asks for exactly the rest of the current chunk (``read(chunk_bytes)`` in a
    loop) gets the decrypted chunk itself, with no copy.
    """

    def __init__(self, digest: str, stream: BinaryIO, decryptor: StreamDecryptor) -> None:
        super().__init__()
        self.digest = digest
        self._stream = stream
        self._decryptor = decryptor
        self._chunks = decryptor.decrypt(stream)
        self._chunk = b""
        self._pos = 0
        self._done = False
        self._error: BlobCorrupted | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = sys.maxsize
        parts: list[bytes | memoryview] = []
        while size > 0 and self._fill():
            if self._pos == 0 and size >= len(self._chunk) and not parts:
                part: bytes | memoryview = self._chunk
            else:
                part = memoryview(self._chunk)[self._pos : self._pos + size]
            parts.append(part)
            self._pos += len(part)
            size -= len(part)
        if len(parts) == 1 and isinstance(parts[0], bytes):
            return parts[0]
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        if not self._fill():
            return b""
        return self.read(min(size if size >= 0 else sys.maxsize, len(self._chunk) - self._pos))

    def readinto(self, b: WriteableBuffer) -> int:
        out = memoryview(b).cast("B")
        got = 0
        while got < len(out) and self._fill():
            n = min(len(out) - got, len(self._chunk) - self._pos)
            out[got : got + n] = memoryview(self._chunk)[self._pos : self._pos + n]
            got, self._pos = got + n, self._pos + n
        return got

    def peek(self, size: int = 0) -> bytes:
        # Lets IOBase.readline (and so iteration) scan a chunk at a time, not a byte at a time.
        return self._chunk[self._pos :] if self._fill() else b""

    def _fill(self) -> bool:
        """Make sure unread bytes are at hand; return False at the end of the blob."""
        if self._pos < len(self._chunk):
            return True
        if self._error is not None:
            # Once verification failed, every later read fails too, never a quiet EOF.
            raise self._error
        if self._done:
            return False
        try:
            plain, final = next(self._chunks)
            if final:
                self._done = True
                self._stream.close()
                actual = self._decryptor.sha256.hexdigest()
                if actual != self.digest:
                    raise IntegrityError(f"its plaintext hashes to {actual}")
        except IntegrityError as exc:
            self._stream.close()
            self._error = _corrupted(self.digest, exc)
            raise self._error from None
        self._chunk, self._pos = plain, 0
        return self._pos < len(self._chunk) or self._fill()

    def close(self) -> None:
        self._stream.close()
        super().close()


def _corrupted(digest: str, exc: IntegrityError) -> BlobCorrupted:
    return BlobCorrupted(
        f"blob {digest} failed verification: {exc.message}. "
        "Restore it from a backup or put the original again."
    )
