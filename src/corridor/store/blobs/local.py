"""The local-folder backend: one file per key, published by an atomic rename.

A write in progress is a ``tmp/<random>.part`` file whose writer holds its owner lock
(`corridor.store.owner_lock`) until it commits or aborts, so the sweep of temporaries
(`corridor.store.staging_sweep`) can remove the ones a killed process left without ever taking
one that a live writer, in this process or another, is still filling.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from corridor.errors import ConfigurationError, InvalidInput, NotFound
from corridor.store.blobs.base import RawStat
from corridor.store.owner_lock import hold, is_held

if TYPE_CHECKING:
    from corridor.config import Settings

_TMP_DIR = "tmp"


class LocalRawStore:
    """Objects as files under ``root``; temporaries live in ``root/tmp`` on the same filesystem."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()
        (root / _TMP_DIR).mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> LocalRawStore:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ConfigurationError(f"blob URL {url!r} must look like file:///absolute/folder")
        return cls(Path(url2pathname(parts.path)))

    def path(self, key: str) -> Path:
        """Return the file that holds ``key``."""
        parts = key.split("/")
        # Keys come from validated digests; this guard keeps a bug from writing outside root.
        if any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts):
            raise InvalidInput(f"invalid blob store key {key!r}")
        return self.root.joinpath(*parts)

    def open_write(self) -> LocalRawWriter:
        return LocalRawWriter(self, self.root / _TMP_DIR / f"{uuid.uuid4().hex}.part")

    def temporary_in_use(self, key: str) -> bool:
        """Whether a live writer still holds the temporary ``key`` (``tmp/<id>.part``)."""
        return is_held(self.path(key))

    def write_bytes(self, key: str, data: bytes) -> None:
        writer = self.open_write()
        try:
            writer.write(data)
            writer.commit(key, overwrite=True)
        finally:
            writer.abort()

    def open_read(self, key: str) -> BinaryIO:
        try:
            # Unbuffered: readers ask for whole chunks, so a Python-side buffer is a wasted copy.
            return open(self.path(key), "rb", buffering=0)
        except FileNotFoundError:
            raise NotFound(f"{key} is not in the blob store at {self.url}") from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"{key} is not in the blob store at {self.url}") from None

    def stat(self, key: str) -> RawStat:
        try:
            st = self.path(key).stat()
        except FileNotFoundError:
            raise NotFound(f"{key} is not in the blob store at {self.url}") from None
        return RawStat(st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))

    def delete(self, key: str) -> bool:
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str) -> Iterator[str]:
        folder, _, _ = prefix.rpartition("/")
        top = self.path(folder) if folder else self.root
        for dirpath, _dirs, files in os.walk(top):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    yield key


class LocalRawWriter:
    """A temporary file that becomes an object on `commit`, after an fsync."""

    def __init__(self, store: LocalRawStore, tmp: Path) -> None:
        self._store = store
        self._tmp = tmp
        self._file = open(tmp, "xb", buffering=0)  # noqa: SIM115
        try:
            hold(self._file.fileno())
        except BaseException:
            self.abort()
            raise

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            n = self._file.write(view)
            view = view[n:]

    def commit(self, key: str, *, overwrite: bool = False) -> bool:
        final = self._store.path(key)
        os.fsync(self._file.fileno())
        self._file.close()
        final.parent.mkdir(parents=True, exist_ok=True)
        # A racing writer of the same key may slip in after this check; callers make that
        # harmless (blob data names its own key sidecar), so no lock is taken.
        if not overwrite and final.exists():
            self.abort()
            return False
        os.replace(self._tmp, final)
        _fsync_dir(final.parent)
        return True

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    if os.name == "posix":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
