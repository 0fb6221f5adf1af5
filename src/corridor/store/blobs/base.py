"""The raw-bytes seam under the blob store: what a backend must do, and nothing more.

Keys are relative, ``/``-separated names built by `corridor.store.blobs.encrypted` from
validated digests; a backend never sees a user's string. Bytes here are already encrypted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from corridor.config import Settings


@dataclass(frozen=True)
class RawStat:
    """What a backend knows about a stored object besides its bytes."""

    size_bytes: int
    modified_at: dt.datetime  # when it was last written, in UTC


class RawWriter(Protocol):
    """Bytes on their way into the store, under a temporary name until `commit`."""

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def commit(self, key: str, *, overwrite: bool = False) -> bool:
        """Publish the bytes as ``key``; without ``overwrite``, an existing ``key`` wins.

        Return whether this writer's bytes were published. Either way the temporary is gone.
        """
        ...

    def abort(self) -> None:
        """Discard the temporary; safe to call after `commit` or twice."""
        ...


class RawStore(Protocol):
    """A flat namespace of immutable byte objects: a local folder, an S3 prefix..."""

    url: str

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> RawStore:
        """Open the store at ``url``, reading backend options (endpoint...) from ``settings``."""
        ...

    def open_write(self) -> RawWriter:
        """Start writing a new object under a temporary name."""
        ...

    def write_bytes(self, key: str, data: bytes) -> None:
        """Create or atomically replace the small object ``key``."""
        ...

    def open_read(self, key: str) -> BinaryIO:
        """Open ``key`` as a sequential binary stream; raise `NotFound` if absent."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """Return the stored size of ``key`` in bytes; raise `NotFound` if absent."""
        ...

    def stat(self, key: str) -> RawStat:
        """Return the size and last write time of ``key``; raise `NotFound` if absent."""
        ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was there."""
        ...

    def list(self, prefix: str) -> Iterator[str]:
        """Yield every key that starts with ``prefix``, in no particular order."""
        ...
