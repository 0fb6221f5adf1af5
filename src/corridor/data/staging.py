"""Bring an input onto local disk as plain, uncompressed bytes, within the ingest limit.

Every operation works in its own `Workspace`, a private folder under ``<home>/tmp`` that is
removed with everything in it when the operation ends, whether it succeeded or not: a failed
ingest leaves no file behind. Inputs arrive as a local path (read in place when already plain),
or as a stream of byte strings (uploads, S3), which is written to the workspace as it comes.
Compressed inputs (gzip, zstd, bz2, told by their magic number) are expanded into the workspace,
and both the bytes read and the bytes expanded count against ``max_bytes``, so a small file that
expands enormously (a decompression bomb) is stopped at the limit, not when the disk is full.
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

from corridor.data.formats import HEAD_BYTES, Compression, compression_from_head
from corridor.errors import InvalidInput, NotFound, PayloadTooLarge

COPY_BYTES = 1 << 20

Progress = Callable[[str, int, int | None], None]
"""Called as ``progress(phase, done, total)``: bytes done of ``total`` (None: unknown)."""


def no_progress(phase: str, done: int, total: int | None) -> None:
    return None


class Workspace:
    """A private temporary folder; closing it removes it and everything in it."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = Path(tempfile.mkdtemp(prefix="data-", dir=root))

    def file(self, name: str) -> Path:
        return self.path / name

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


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
    import pyarrow as pa  # type: ignore[import-untyped]

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
    os.chmod(out, 0o600)
    return out


def _advance(line: int, column: int, text: str) -> tuple[int, int]:
    breaks = text.count("\n")
    if breaks:
        return line + breaks, len(text) - text.rfind("\n")
    return line, column + len(text)
