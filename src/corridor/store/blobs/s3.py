"""The S3 backend (AWS or any S3-compatible service), through fsspec's s3fs.

Credentials come from the usual AWS sources (``AWS_ACCESS_KEY_ID``... or a profile); the
endpoint of a non-AWS service from ``Settings.s3_endpoint_url``. S3 has no rename, so a commit
is a server-side copy from the temporary key: the bytes do not travel through this process.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import urlsplit

from corridor.errors import ConfigurationError, NotFound
from corridor.store.blobs.base import RawStat

if TYPE_CHECKING:
    from corridor.config import Settings

_TMP_DIR = "tmp"
# Multipart part size of uploads and read-ahead of downloads: large enough for few requests,
# small enough that a multi-GB object never sits in memory.
_BLOCK_BYTES = 8 << 20


class S3RawStore:
    """Objects under ``s3://bucket/prefix``; temporaries under its ``tmp/``."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.root = root.strip("/")
        self.url = f"s3://{self.root}"

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> S3RawStore:
        parts = urlsplit(url)
        if not parts.netloc:
            raise ConfigurationError(f"blob URL {url!r} must look like s3://bucket/prefix")
        import s3fs  # here, not at the top: importing it takes ~0.4 s that local stores can skip

        # The listings cache would make exists() answer from a stale directory listing.
        fs = s3fs.S3FileSystem(endpoint_url=settings.s3_endpoint_url, use_listings_cache=False)
        return cls(fs, f"{parts.netloc}/{parts.path.strip('/')}")

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def open_write(self) -> S3RawWriter:
        return S3RawWriter(self, self.path(f"{_TMP_DIR}/{uuid.uuid4().hex}.part"))

    def write_bytes(self, key: str, data: bytes) -> None:
        # A single PUT replaces an object atomically.
        self.fs.pipe_file(self.path(key), data)

    def open_read(self, key: str) -> BinaryIO:
        try:
            f = self.fs.open(self.path(key), "rb", block_size=_BLOCK_BYTES, cache_type="readahead")
        except FileNotFoundError:
            raise NotFound(f"{key} is not in the blob store at {self.url}") from None
        return cast(BinaryIO, f)

    def _head(self, key: str) -> dict[str, Any] | None:
        # One HEAD request: fs.exists() and fs.info() also list, to find "directories".
        bucket, _, name = self.path(key).partition("/")
        try:
            head: dict[str, Any] = self.fs.call_s3("head_object", Bucket=bucket, Key=name)
        except FileNotFoundError:
            return None
        return head

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise NotFound(f"{key} is not in the blob store at {self.url}")
        return int(head["ContentLength"])

    def stat(self, key: str) -> RawStat:
        head = self._head(key)
        if head is None:
            raise NotFound(f"{key} is not in the blob store at {self.url}")
        modified: dt.datetime = head["LastModified"]
        return RawStat(int(head["ContentLength"]), modified.astimezone(dt.UTC))

    def delete(self, key: str) -> bool:
        # S3 answers a DELETE of a missing key with success, so ask first.
        if not self.exists(key):
            return False
        self.fs.rm_file(self.path(key))
        return True

    def list(self, prefix: str) -> Iterator[str]:
        folder, _, _ = prefix.rpartition("/")
        start = len(self.root) + 1
        for path in self.fs.find(self.path(folder) if folder else self.root):
            key = str(path)[start:]
            if key.startswith(prefix):
                yield key


class S3RawWriter:
    """A multipart upload to a temporary key, copied to its final key on `commit`."""

    def __init__(self, store: S3RawStore, tmp: str) -> None:
        self._store = store
        self._tmp = tmp
        self._file = store.fs.open(tmp, "wb", block_size=_BLOCK_BYTES)
        self._state = "writing"  # then "uploaded", then "gone"

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._file.write(data)

    def commit(self, key: str, *, overwrite: bool = False) -> bool:
        self._file.close()
        self._state = "uploaded"
        # No conditional copy in S3: a racing writer of the same key may win after this check.
        # Callers make that harmless (blob data names its own key sidecar).
        published = overwrite or not self._store.exists(key)
        if published:
            self._store.fs.cp_file(self._tmp, self._store.path(key))
        self.abort()
        return published

    def abort(self) -> None:
        if self._state == "writing":
            # Abandons the multipart upload, so no part stays stored (and billed) in the bucket.
            self._file.discard()
            self._file.closed = True
        elif self._state == "uploaded":
            self._store.fs.rm_file(self._tmp)
        self._state = "gone"
