"""Bring an input onto local disk as plain, uncompressed bytes, within the ingest limit.

Every operation works in its own `Workspace` under ``<home>/tmp``, removed with everything in it
when the operation ends, whether it succeeded or not: a failed ingest leaves no file behind.
Inputs arrive as a local path (read in place when already plain), or as a stream of byte strings
(uploads, S3), which is written to the workspace as it comes. Compressed inputs (gzip, zstd,
bz2, told by their magic number) are expanded into the workspace, and both the bytes read and
the bytes expanded count against ``max_bytes``, so a small file that expands enormously (a
decompression bomb) is stopped at the limit, not when the disk is full.

Workspace files hold users' data in plain text (Polars and Arrow read and write them by path,
streaming, which keeps memory flat whatever the size), so they must not outlive the process
even when it is killed. On Linux each one is a file with no name: an ``O_TMPFILE`` inode (or
one unlinked the instant it is made) kept alive by an open descriptor and reached through
``/proc/self/fd/<fd>``, which reopens the file like any path. When the process ends, however it
ends, the kernel frees it; ``kill -9`` mid-upload leaves nothing to read. Where ``/proc`` does
not reopen files, they are named, mode 0600, in the workspace's 0700 folder, and the sweep at
server start removes what a dead process left (`corridor.store.staging_sweep`). Either way a
workspace holds an owner lock (`corridor.store.owner_lock`), so no sweep touches a live one.
"""

from __future__ import annotations

import codecs
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from corridor.data.sansio.formats import HEAD_BYTES, Compression, compression_from_head
from corridor.errors import InvalidInput, NotFound, PayloadTooLarge
from corridor.store.owner_lock import FOLDER_OWNER, claim

COPY_BYTES = 1 << 20

Progress = Callable[[str, int, int | None], None]
"""Called as ``progress(phase, done, total)``: bytes done of ``total`` (None: unknown)."""


def no_progress(phase: str, done: int, total: int | None) -> None:
    return None


class Workspace:
    """A private temporary folder; closing it removes it and every file it handed out."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = Path(tempfile.mkdtemp(prefix="data-", dir=root))
        try:
            self._owner = claim(self.path / FOLDER_OWNER)
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        self._nameless = _proc_reopens_files(self.path)
        self._files: dict[str, tuple[int | None, Path]] = {}

    def file(self, name: str) -> Path:
        """The path of this workspace's file ``name``, created empty (mode 0600) on first use.

        Open it, truncate it, hand it to Polars as often as needed; it lasts until `close`.
        """
        found = self._files.get(name)
        if found is not None:
            return found[1]
        if not name or "/" in name or name in (".", "..", FOLDER_OWNER):
            raise ValueError(f"invalid workspace file name {name!r}")
        fd: int | None
        if self._nameless:
            fd = _nameless_file(self.path)
            path = Path(f"{_PROC_FDS}/{fd}")
        else:
            path = self.path / name
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            fd = None
        self._files[name] = (fd, path)
        return path

    def discard(self, path: Path) -> None:
        """Free one file before the workspace closes (intermediate parts, say)."""
        for name, (fd, held) in list(self._files.items()):
            if held == path:
                del self._files[name]
                _free(fd, held)
                return

    def close(self) -> None:
        files, self._files = self._files, {}
        for fd, path in files.values():
            _free(fd, path)
        shutil.rmtree(self.path, ignore_errors=True)
        if self._owner >= 0:
            os.close(self._owner)  # last: a sweep may take the folder only once it is gone
            self._owner = -1

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_PROC_FDS = "/proc/self/fd"
_reopens: bool | None = None


def _nameless_file(folder: Path) -> int:
    """Create a file in ``folder`` that has no name; return the descriptor that keeps it."""
    tmpfile = getattr(os, "O_TMPFILE", 0)
    if tmpfile:
        try:
            return os.open(folder, tmpfile | os.O_RDWR | os.O_CLOEXEC, 0o600)
        except OSError:
            pass  # a filesystem without O_TMPFILE: the name then lives for one system call
    fd, name = tempfile.mkstemp(dir=folder)
    os.unlink(name)
    return fd


def _proc_reopens_files(folder: Path) -> bool:
    """Whether ``/proc/self/fd/<fd>`` opens the file anew (Linux), checked once per process.

    Elsewhere the path is missing, or (``/dev/fd`` on BSDs) a duplicate sharing one offset,
    which breaks a reader and a writer of the same file.
    """
    global _reopens
    if _reopens is None:
        try:
            fd = _nameless_file(folder)
        except OSError:
            _reopens = False
            return False
        try:
            os.write(fd, b"probe")
            with open(f"{_PROC_FDS}/{fd}", "rb") as f:
                _reopens = f.read() == b"probe"
        except OSError:
            _reopens = False
        finally:
            os.close(fd)
    return _reopens


def _free(fd: int | None, path: Path) -> None:
    if fd is not None:
        os.close(fd)  # the file had no name: closing its last descriptor frees it
    else:
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class StagedInput:
    """An input as plain bytes in a local file."""

    path: Path
    name: str  # what messages call it: the file name, URI or "upload"
    bytes_read: int
    compression: Compression | None
    size: int  # after decompression

    def head(self, n: int) -> bytes:
        with self.path.open("rb") as f:
            return f.read(n)


def _too_large(name: str, limit: int, what: str = "") -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{name}{what} is larger than the ingest limit of {limit} bytes "
        "(CORRIDOR_MAX_INGEST_BYTES); split it, or raise the limit"
    )


def stage_stream(
    chunks: Iterable[bytes],
    name: str,
    workspace: Workspace,
    *,
    max_bytes: int,
    total: int | None = None,
    compression: Compression | str | None = "auto",
    progress: Progress = no_progress,
) -> StagedInput:
    """Write ``chunks`` to the workspace (stopping at ``max_bytes``), then expand if compressed."""
    raw = workspace.file("raw")
    read = 0
    with raw.open("wb") as f:
        for chunk in chunks:
            read += len(chunk)
            if read > max_bytes:
                raise _too_large(name, max_bytes)
            f.write(chunk)
            progress("reading", read, total)
    return _expand(
        raw, name, read, workspace, max_bytes=max_bytes, compression=compression, progress=progress
    )


def stage_path(
    path: Path,
    name: str,
    workspace: Workspace,
    *,
    max_bytes: int,
    compression: Compression | str | None = "auto",
    progress: Progress = no_progress,
) -> StagedInput:
    """Use a local file in place if plain, else expand it into the workspace."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise NotFound(f"{name}: no such file") from None
    if not path.is_file():
        raise InvalidInput(f"{name} is not a regular file")
    if size > max_bytes:
        raise _too_large(name, max_bytes)
    return _expand(
        path,
        name,
        size,
        workspace,
        max_bytes=max_bytes,
        compression=compression,
        progress=progress,
    )


def _expand(
    path: Path,
    name: str,
    read: int,
    workspace: Workspace,
    *,
    max_bytes: int,
    compression: Compression | str | None = "auto",
    progress: Progress = no_progress,
) -> StagedInput:
    if compression == "auto":
        with path.open("rb") as f:
            kind = compression_from_head(f.read(HEAD_BYTES))
    elif compression in (None, "none"):
        kind = None
    else:
        kind = Compression(compression)
    if kind is None:
        return StagedInput(path, name, read, None, read)
    out = workspace.file("expanded")
    size = expand(path, kind, out, name=name, max_bytes=max_bytes, progress=progress)
    return StagedInput(out, name, read, kind, size)


def expand(
    src: Path,
    kind: Compression,
    dst: Path,
    *,
    name: str,
    max_bytes: int,
    progress: Progress = no_progress,
) -> int:
    """Decompress ``src`` into ``dst``, refusing to write more than ``max_bytes``."""
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints

    written = 0
    try:
        with (
            pa.CompressedInputStream(pa.OSFile(str(src), "rb"), kind.value) as stream,
            dst.open("wb") as out,
        ):
            while chunk := stream.read(COPY_BYTES):
                written += len(chunk)
                if written > max_bytes:
                    raise PayloadTooLarge(
                        f"{name}: its {kind.value} contents expand past the ingest limit of "
                        f"{max_bytes} bytes (CORRIDOR_MAX_INGEST_BYTES); refusing what looks "
                        "like a decompression bomb"
                    )
                out.write(chunk)
                progress("expanding", written, None)
    except (OSError, pa.ArrowException) as exc:
        raise InvalidInput(f"{name} is not valid {kind.value} data: {exc}") from None
    return written


def transcode(staged: StagedInput, encoding: str, workspace: Workspace, *, max_bytes: int) -> Path:
    """Re-encode ``staged`` from ``encoding`` to UTF-8; undecodable bytes fail naming where."""
    out = workspace.file("utf8")
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line, column, written = 1, 1, 0
    with staged.path.open("rb") as f, out.open("w", encoding="utf-8", newline="") as w:
        while True:
            chunk = f.read(COPY_BYTES)
            final = not chunk
            try:
                text = decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                good = chunk[: exc.start].decode(encoding, errors="replace")
                line, column = _advance(line, column, good)
                bad = exc.object[exc.start : exc.end].hex(" ")
                raise InvalidInput(
                    f"{staged.name}, line {line}, column {column}: bytes {bad} are not valid "
                    f"{encoding}; give the file's encoding (encoding=...)"
                ) from None
            line, column = _advance(line, column, text)
            written += len(text)
            if written > max_bytes * 2:  # text can grow when re-encoded; keep a hard stop
                raise _too_large(staged.name, max_bytes, " (re-encoded as UTF-8)")
            w.write(text.lstrip("\ufeff") if written == len(text) else text)
            if final:
                break
    return out


def _advance(line: int, column: int, text: str) -> tuple[int, int]:
    breaks = text.count("\n")
    if breaks:
        return line + breaks, len(text) - text.rfind("\n")
    return line, column + len(text)
