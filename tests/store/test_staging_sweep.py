"""Staging temporaries: workspace files without names, and sweeps that take only the dead's.

A "dead" temporary here is one whose owner lock nobody holds, as after its process was
killed; a live one is held by an open `Workspace` or blob writer (in this process: ``flock``
locks conflict between open files, so a sweep sees them exactly as it sees another process's).
Cross-process kills are in tests/data/test_staging_crash.py.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import polars as pl
import pytest

from corridor.data import staging
from corridor.data.staging import Workspace, stage_stream
from corridor.store.base import utcnow
from corridor.store.blob_sweep import sweep
from corridor.store.blobs import BlobStore
from corridor.store.blobs.layout import TEMPORARIES
from corridor.store.blobs.local import LocalRawStore
from corridor.store.db import Database
from corridor.store.owner_lock import FOLDER_OWNER, MIN_AGE_S, claim
from corridor.store.staging_sweep import sweep_blob_temporaries, sweep_staging
from tests.conftest import sqlite_only

MARKER = b"staging-sweep-marker-5d0c"
HOUR_AGO = time.time() - 3600


def _age(*paths: Path, at: float = HOUR_AGO) -> None:
    for path in paths:
        os.utime(path, (at, at), follow_symlinks=False)


def _dead_workspace(root: Path, name: str, payload: bytes = MARKER) -> Path:
    """What a killed process leaves: a folder, an unheld owner file, a named file inside."""
    folder = root / name
    folder.mkdir(parents=True)
    os.close(os.open(folder / FOLDER_OWNER, os.O_CREAT | os.O_WRONLY, 0o600))
    (folder / "raw").write_bytes(payload)
    _age(folder / "raw", folder / FOLDER_OWNER, folder)
    return folder


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_workspace_files_have_no_name_on_disk_and_are_gone_after_close(tmp_path: Path) -> None:
    root = tmp_path / "tmp"
    with Workspace(root) as space:
        staged = stage_stream(iter([b"a,b\n", MARKER + b",2\n"]), "upload", space, max_bytes=1000)
        out = space.file("data.parquet")
        pl.scan_csv(staged.path).sink_parquet(out)
        assert pl.read_parquet(out)["a"].to_list() == [MARKER.decode()]
        assert space.file("data.parquet") == out  # one name, one file
        assert sorted(p.name for p in space.path.iterdir()) == [FOLDER_OWNER]
        assert _files_holding(tmp_path, MARKER) == []
    assert list(root.iterdir()) == []


def test_workspace_falls_back_to_private_named_files_removed_on_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "_reopens", False)  # as where /proc does not reopen files
    root = tmp_path / "tmp"
    with Workspace(root) as space:
        path = space.file("raw")
        path.write_bytes(MARKER)
        assert path.parent == space.path
        assert path.stat().st_mode & 0o777 == 0o600
        assert space.path.stat().st_mode & 0o777 == 0o700
        space.discard(path)
        assert not path.exists()
        kept = space.file("kept")
        kept.write_bytes(MARKER)
    assert not kept.exists()
    assert list(root.iterdir()) == []


def test_staging_sweep_removes_dead_workspaces_and_keeps_live_and_young_ones(
    tmp_path: Path,
) -> None:
    root = tmp_path / "tmp"
    dead = _dead_workspace(root, "data-dead", MARKER * 100)
    locked_stray = root / "stray.part"  # a stray file is judged by its own lock
    locked_stray.write_bytes(b"x")
    stray_fd = claim(locked_stray)
    young = _dead_workspace(root, "data-young")
    _age(young, young / FOLDER_OWNER, at=time.time())
    with Workspace(root) as live:
        live.file("raw").write_bytes(MARKER)
        _age(live.path, live.path / FOLDER_OWNER)  # old, but its owner is alive
        _age(locked_stray)

        dry = sweep_staging(root, dry_run=True)
        assert (dry.removed, dry.kept) == (1, 3)
        assert dry.freed_bytes == len(MARKER) * 100
        assert dead.exists()

        swept = sweep_staging(root)
        assert (swept.removed, swept.freed_bytes, swept.kept) == (1, len(MARKER) * 100, 3)
        assert not dead.exists()
        assert [live.path.exists(), young.exists(), locked_stray.exists()] == [True] * 3
        assert live.file("raw").read_bytes() == MARKER

        later = sweep_staging(root, now=time.time() + MIN_AGE_S + 1)
        assert later.removed == 1  # the young one, once old enough
        assert [live.path.exists(), locked_stray.exists()] == [True] * 2
    os.close(stray_fd)
    assert sweep_staging(root).removed == 1  # its owner closed it: now it is a leftover
    assert list(root.iterdir()) == []


def test_staging_sweep_of_a_missing_folder_finds_nothing(tmp_path: Path) -> None:
    assert sweep_staging(tmp_path / "absent").removed == 0


def test_blob_temporaries_of_dead_writers_go_and_live_writers_keep_theirs(
    blob_store: BlobStore,
) -> None:
    raw = blob_store.raw
    local = isinstance(raw, LocalRawStore)
    raw.write_bytes(f"{TEMPORARIES}dead.part", b"ciphertext left by a killed put")
    writer = raw.open_write()  # a put in progress, held by its writer where the backend locks
    try:
        writer.write(b"ciphertext in flight")
        if isinstance(raw, LocalRawStore):  # make both look old: only locks decide
            for path in (raw.root / "tmp").iterdir():
                _age(path)
        now = utcnow() + dt.timedelta(hours=2)  # past any grace period, for S3's age rule
        temporaries = sorted(raw.list(TEMPORARIES))
        # An S3 put in flight is a multipart upload, not yet an object to list.
        assert len(temporaries) == (2 if local else 1)

        young = sweep_blob_temporaries(raw)
        # S3 has no locks: its dead.part is too new to judge until the grace period is over.
        assert young.removed == (1 if local else 0)

        swept = sweep_blob_temporaries(raw, now=now)
        assert sorted(raw.list(f"{TEMPORARIES}dead")) == []
        assert young.removed + swept.removed == 1
        writer.write(b" and more")
        assert writer.commit("test/live") is True  # the live write was never disturbed
        with raw.open_read("test/live") as f:
            assert f.read() == b"ciphertext in flight and more"
    finally:
        writer.abort()


@sqlite_only
def test_gc_blobs_sweep_also_removes_staging_leftovers_and_reports_them(
    blob_store: BlobStore, db: Database, tmp_path: Path
) -> None:
    staging_folder = tmp_path / "staging"
    _dead_workspace(staging_folder, "data-dead", b"x" * 1000)
    blob_store.raw.write_bytes(f"{TEMPORARIES}dead.part", b"y" * 500)
    later = utcnow() + dt.timedelta(hours=2)

    dry = sweep(db, blob_store, sources={}, dry_run=True, now=later, staging=staging_folder)
    assert (dry.workspaces, dry.workspace_bytes) == (1, 1000)
    assert (dry.temporaries, dry.temporary_bytes) == (1, 500)
    assert list(staging_folder.iterdir()) != []

    done = sweep(db, blob_store, sources={}, now=later, staging=staging_folder)
    assert (done.workspaces, done.temporaries) == (1, 1)
    assert list(staging_folder.iterdir()) == []
    assert list(blob_store.raw.list(TEMPORARIES)) == []
