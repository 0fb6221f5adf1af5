"""Unpacking a code snapshot into a job's work directory, refusing anything that could escape it.

The archive comes from the server, but the server got it from a user; a crafted tar could write
outside the work directory through an absolute name, a ``..`` component or a link that points
out. Every member is checked before a byte is written, and extraction also runs under the
standard library's ``data`` filter as a second net. Archives are cached by digest under the
worker's temp root so a machine downloads each snapshot once; each attempt gets a fresh copy
of the tree, because a job may write into its directory. The cache keeps the most recently used
archives up to ``CACHE_MAX_BYTES``.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

DIGEST = re.compile(r"^[0-9a-f]{64}$")
# Snapshots are capped at 100 MB each by default; a few dozen distinct ones fit.
CACHE_MAX_BYTES = 2 * 1024**3


class UnsafeSnapshot(Exception):
    """The archive is malformed or names a path outside the work directory."""


def check_member(member: tarfile.TarInfo) -> None:
    """Raise UnsafeSnapshot unless ``member`` stays inside the directory it is unpacked into."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or member.name.startswith(("/", "\\")):
        raise UnsafeSnapshot(f"snapshot entry {member.name!r} is an absolute path")
    if ".." in name.parts:
        raise UnsafeSnapshot(f"snapshot entry {member.name!r} climbs out with '..'")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        # A symlink resolves from its own directory; a hard link names a path from the root.
        base = name.parent if member.issym() else PurePosixPath()
        if target.is_absolute() or not _stays_inside(base / target):
            raise UnsafeSnapshot(
                f"snapshot entry {member.name!r} links to {member.linkname!r}, outside the snapshot"
            )
    elif not (member.isfile() or member.isdir()):
        raise UnsafeSnapshot(f"snapshot entry {member.name!r} is not a file, directory or link")


def _stays_inside(path: PurePosixPath) -> bool:
    depth = 0
    for part in path.parts:
        if part == "..":
            depth -= 1
        elif part not in ("", "."):
            depth += 1
        if depth < 0:
            return False
    return True


def unpack(archive: Path, into: Path) -> None:
    """Extract the tar.gz ``archive`` into the existing directory ``into`` after checking it all."""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                check_member(member)
            tar.extractall(into, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UnsafeSnapshot(f"snapshot archive cannot be unpacked: {exc}") from exc


def cached_archive(cache_dir: Path, digest: str, download: Callable[[], bytes]) -> Path:
    """The archive for ``digest`` in the cache, downloading and verifying it the first time."""
    if not DIGEST.match(digest):
        raise UnsafeSnapshot(f"snapshot digest {digest!r} is not a sha256 hex digest")
    path = cache_dir / f"{digest}.tar.gz"
    if path.is_file():
        os.utime(path)  # recently used: the last to be pruned
        return path
    data = download()
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise UnsafeSnapshot(f"snapshot {digest} arrived with digest {actual}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a concurrent worker never reads half an archive.
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".part")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)
    prune(cache_dir, keep=path)
    return path


def prune(cache_dir: Path, *, keep: Path, max_bytes: int = CACHE_MAX_BYTES) -> None:
    """Delete the least recently used archives until the cache holds at most ``max_bytes``."""
    entries = []
    for entry in cache_dir.glob("*.tar.gz"):
        try:
            stat = entry.stat()
        except FileNotFoundError:  # pruned by a concurrent worker
            continue
        entries.append((stat.st_mtime, stat.st_size, entry))
    total = sum(size for _, size, _ in entries)
    for _, size, entry in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            return
        if entry != keep:
            entry.unlink(missing_ok=True)
            total -= size
