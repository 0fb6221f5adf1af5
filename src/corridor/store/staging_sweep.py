"""Remove what dead processes left in staging folders: data workspaces and blob temporaries.

Two folders hold temporaries: the home's ``tmp/`` (data workspaces, `corridor.data.staging`)
and the blob store's ``tmp/`` (ciphertext ``.part`` files of puts in progress). A process
killed mid-write leaves them behind, and nothing else ever removes them, so this sweep runs
when the server starts and with ``corridor admin gc-blobs``.

A sweep must never take a temporary that a live process is still writing, and a CLI command
may open the home while a server writes in another process. Liveness is the owner lock
(`corridor.store.owner_lock`): the kernel releases it when its process dies, ``kill -9``
included, so it stays right however long an upload stalls, where an age threshold is a guess
and a pid file is fooled by pid reuse. Anything younger than `MIN_AGE_S` is kept as well,
which covers the instant between creating a temporary and locking it. Backends with no local
files (S3) have no locks, so their temporaries are judged by age alone, against the longer of
that minimum and a grace period. (An S3 put in flight is a multipart upload, not yet an
object, so only the instant between its completion and its copy is exposed.)

What the sweep removed is logged as counts and bytes, never as names or contents.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from corridor.errors import NotFound
from corridor.store.base import utcnow
from corridor.store.blobs.base import RawStore
from corridor.store.blobs.layout import TEMPORARIES
from corridor.store.owner_lock import FOLDER_OWNER, MIN_AGE_S, is_held

STAGING_DIR = "tmp"
UNLOCKED_GRACE_S = 3600.0
"""How old a temporary of a backend without locks (S3) must be before a sweep removes it."""

log = logging.getLogger("corridor.staging")


@dataclass
class Swept:
    """What one sweep of one folder removed (or, in a dry run, would have removed)."""

    removed: int = 0
    freed_bytes: int = 0
    kept: int = 0  # held by a live process, or too young to judge


@runtime_checkable
class LocksTemporaries(Protocol):
    """A raw store whose writers hold an owner lock on their temporaries (local folders)."""

    def temporary_in_use(self, key: str) -> bool: ...


def staging_root(home: Path) -> Path:
    """The folder under the home where data workspaces live."""
    return home / STAGING_DIR


def sweep_staging(
    root: Path, *, min_age_s: float = MIN_AGE_S, dry_run: bool = False, now: float | None = None
) -> Swept:
    """Remove the workspaces (and stray files) under ``root`` that no live process owns."""
    swept = Swept()
    cutoff = (time.time() if now is None else now) - max(min_age_s, 0.0)
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return swept
    for entry in entries:
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                owner = path / FOLDER_OWNER
                if is_held(owner) or _newest_mtime(path, owner) > cutoff:
                    swept.kept += 1
                    continue
                size = _tree_bytes(path)
                if not dry_run:
                    shutil.rmtree(path)
            else:
                st = entry.stat(follow_symlinks=False)
                if is_held(path) or st.st_mtime > cutoff:
                    swept.kept += 1
                    continue
                size = st.st_size
                if not dry_run:
                    path.unlink()
        except FileNotFoundError:
            continue  # removed meanwhile: its owner closed it, or another sweep took it
        except OSError as exc:
            log.warning("cannot sweep a staging leftover: %s", exc)
            swept.kept += 1
            continue
        swept.removed += 1
        swept.freed_bytes += size
    return swept


def sweep_blob_temporaries(
    raw: RawStore,
    *,
    grace_s: float = UNLOCKED_GRACE_S,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> Swept:
    """Remove the blob store's temporaries that no live writer holds.

    A store that locks its temporaries loses those unheld and older than `MIN_AGE_S`; any
    other store those older than ``grace_s`` (and `MIN_AGE_S`).
    """
    swept = Swept()
    locks = raw if isinstance(raw, LocksTemporaries) else None
    age_s = MIN_AGE_S if locks is not None else max(grace_s, MIN_AGE_S)
    cutoff = (now or utcnow()) - dt.timedelta(seconds=age_s)
    for key in list(raw.list(TEMPORARIES)):
        if locks is not None and locks.temporary_in_use(key):
            swept.kept += 1
            continue
        try:
            found = raw.stat(key)
        except NotFound:
            continue  # committed or aborted meanwhile
        if found.modified_at > cutoff:
            swept.kept += 1
            continue
        if not dry_run:
            raw.delete(key)
        swept.removed += 1
        swept.freed_bytes += found.size_bytes
    return swept


def sweep_at_start(home: Path, raw: RawStore) -> None:
    """Sweep both folders as a server starts, logging what went; a failure only warns.

    Leftovers cost disk, not correctness, so a sweep that fails must not keep the server down.
    """
    try:
        staging = sweep_staging(staging_root(home))
        temporaries = sweep_blob_temporaries(raw)
    except Exception as exc:  # any failure here is reported, never fatal
        log.warning("staging sweep failed: %s", exc)
        return
    if staging.removed or temporaries.removed:
        log.info(
            "removed staging leftovers of stopped processes",
            extra={
                "workspaces_removed": staging.removed,
                "workspace_bytes": staging.freed_bytes,
                "blob_temporaries_removed": temporaries.removed,
                "blob_temporary_bytes": temporaries.freed_bytes,
            },
        )


def _newest_mtime(*paths: Path) -> float:
    newest = 0.0
    for path in paths:
        try:
            newest = max(newest, path.lstat().st_mtime)
        except FileNotFoundError:
            continue
    return newest


def _tree_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                continue
    return total
