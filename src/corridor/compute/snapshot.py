"""The code snapshot: the submitter's working directory as a deterministic tar.gz, named by digest.

A function job runs the submitter's code on a worker that may be on another machine, so the code
travels as a snapshot stored once per project by its sha256 and reused while the tree is unchanged.
Identical trees must give identical bytes, or every submit would upload again: entries are sorted,
and every field that varies between checkouts is fixed (mtime 0, uid/gid 0, no owner names, modes
reduced to 644/755, gzip header without a name or time).

What goes in is what ``git add`` would take: ``.gitignore`` files are honoured (each relative to its
folder, deeper files winning, as git does), and ``.git``, virtual environments, caches, bytecode
and ``node_modules`` are always left out; so are symbolic links (their targets may lie outside the
tree) and any folder passed in ``exclude`` (the client passes its Corridor home, which holds keys).
Past ``max_bytes`` of file content the build stops with a message naming the total and the largest
files and folders, so the person can add them to ``.gitignore``.

Building is cached per process by the tree's listing (paths, sizes, mtimes): a loop of ``submit``
calls walks the tree each time but reads and compresses it once.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import stat
import tarfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pathspec

from corridor.compute.sansio.units import format_bytes
from corridor.errors import InvalidInput

# Folders never shipped: version control, virtual environments, tool caches.
SKIPPED_FOLDERS: Final = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".ipynb_checkpoints",
        "node_modules",
    }
)
SKIPPED_SUFFIXES: Final = (".pyc", ".pyo")
DEFAULT_MAX_BYTES: Final = 100 * 1024 * 1024
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A snapshot's modules may sit at its root or in a src layout's ``src`` folder.
_SOURCE_FOLDERS: Final = ("", "src")


@dataclass(frozen=True)
class Snapshot:
    """A built snapshot: its bytes, their sha256, and what it holds."""

    digest: str
    data: bytes
    files: tuple[str, ...]
    modules: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class _Entry:
    path: str  # relative, "/"-separated
    full: Path
    size: int
    mtime_ns: int
    executable: bool


_cache: dict[tuple[object, ...], Snapshot] = {}
_cache_lock = threading.Lock()
_CACHE_ENTRIES: Final = 8


def build_snapshot(
    root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, exclude: Sequence[Path] = ()
) -> Snapshot:
    """The snapshot of ``root``; InvalidInput if it is not a folder or holds more than max_bytes."""
    root = root.resolve()
    if not root.is_dir():
        raise InvalidInput(f"the snapshot root {root} is not a folder")
    skipped = tuple(p.resolve() for p in exclude)
    entries = sorted(_walk(root, skipped), key=lambda e: e.path)
    total = sum(e.size for e in entries)
    if total > max_bytes:
        raise InvalidInput(_too_big(root, entries, total, max_bytes))
    key = (str(root), max_bytes, tuple((e.path, e.size, e.mtime_ns, e.executable) for e in entries))
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    data = _archive(entries)
    files = tuple(e.path for e in entries)
    snapshot = Snapshot(hashlib.sha256(data).hexdigest(), data, files, modules_of(files))
    with _cache_lock:
        if len(_cache) >= _CACHE_ENTRIES:
            _cache.pop(next(iter(_cache)))
        _cache[key] = snapshot
    return snapshot


def modules_of(files: Sequence[str]) -> tuple[str, ...]:
    """The module names a worker can import from these files (root and ``src`` on sys.path)."""
    names: set[str] = set()
    for file in files:
        if not file.endswith(".py"):
            continue
        for folder in _SOURCE_FOLDERS:
            prefix = f"{folder}/" if folder else ""
            if not file.startswith(prefix):
                continue
            parts = file[len(prefix) : -len(".py")].split("/")
            if parts[-1] == "__init__":
                parts.pop()
            if parts and all(_IDENTIFIER.match(p) for p in parts):
                names.add(".".join(parts))
    return tuple(sorted(names))


def _walk(root: Path, skipped: tuple[Path, ...]) -> Iterator[_Entry]:
    """Regular files under root that git would take, minus the always-skipped folders."""
    # (folder relative to root, its .gitignore) from root down to the folder being walked.
    stack: list[tuple[Path, list[tuple[str, pathspec.GitIgnoreSpec]]]] = [(root, [])]
    while stack:
        folder, specs = stack.pop()
        ignore = folder / ".gitignore"
        if ignore.is_file() and not ignore.is_symlink():
            base = folder.relative_to(root).as_posix()
            lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines()
            specs = [
                *specs,
                ("" if base == "." else base, pathspec.GitIgnoreSpec.from_lines(lines)),
            ]
        try:
            children = sorted(os.scandir(folder), key=lambda d: d.name)
        except OSError as exc:
            raise InvalidInput(f"cannot read {folder} for the snapshot: {exc}") from exc
        for child in children:
            full = Path(child.path)
            relative = full.relative_to(root).as_posix()
            if child.is_symlink():
                continue
            if child.is_dir():
                if (
                    child.name in SKIPPED_FOLDERS
                    or (full / "pyvenv.cfg").exists()
                    or full in skipped
                    or _ignored(relative + "/", specs)
                ):
                    continue
                stack.append((full, specs))
            elif child.is_file():
                if child.name.endswith(SKIPPED_SUFFIXES) or _ignored(relative, specs):
                    continue
                info = child.stat()
                yield _Entry(
                    relative,
                    full,
                    info.st_size,
                    info.st_mtime_ns,
                    bool(info.st_mode & stat.S_IXUSR),
                )


def _ignored(relative: str, specs: list[tuple[str, pathspec.GitIgnoreSpec]]) -> bool:
    """Whether the deepest .gitignore with an opinion on ``relative`` ignores it."""
    verdict = False
    for base, spec in specs:
        inner = relative[len(base) + 1 :] if base else relative
        result = spec.check_file(inner)
        if result.include is not None:
            verdict = result.include
    return verdict


def _archive(entries: Sequence[_Entry]) -> bytes:
    raw = io.BytesIO()
    # mtime=0 and no file name keep the gzip header the same for the same content.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.size = entry.size
            info.mode = 0o755 if entry.executable else 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with entry.full.open("rb") as handle:
                content = handle.read(entry.size + 1)
            if len(content) != entry.size:
                raise InvalidInput(f"{entry.path} changed while the snapshot was being built")
            tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


def _too_big(root: Path, entries: Sequence[_Entry], total: int, max_bytes: int) -> str:
    folders: dict[str, int] = {}
    for entry in entries:
        head, _, rest = entry.path.partition("/")
        if rest:
            folders[head + "/"] = folders.get(head + "/", 0) + entry.size
    largest_files = sorted(entries, key=lambda e: (-e.size, e.path))[:5]
    largest_folders = sorted(folders.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    files_text = ", ".join(f"{e.path} ({format_bytes(e.size)})" for e in largest_files)
    message = (
        f"the code snapshot of {root} would hold {format_bytes(total)} in {len(entries)} files, "
        f"more than the limit of {format_bytes(max_bytes)}. Largest files: {files_text}"
    )
    if largest_folders:
        folders_text = ", ".join(f"{name} ({format_bytes(size)})" for name, size in largest_folders)
        message += f"; largest folders: {folders_text}"
    return (
        message + ". Add data, models and outputs to .gitignore (send data as dataset inputs), "
        "or submit from a smaller workdir"
    )
