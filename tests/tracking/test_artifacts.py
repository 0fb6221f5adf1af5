"""A run's artifact tree over the blob store: put, list, open, replace, delete, refuse."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from corridor.config import Settings
from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.store.blobs import BlobStore, open_raw_store
from corridor.store.blobs.crypto import create_master_key
from corridor.store.db import Database
from corridor.tracking import artifacts, runs
from corridor.tracking.entities import FileInfo
from tests.tracking.conftest import Counts


@pytest.fixture
def blobs(home: Path) -> BlobStore:
    key = home / "master.key"
    create_master_key(key)
    url = (home / "blobs").as_uri()
    return BlobStore(open_raw_store(url, Settings(home=home)), key, chunk_bytes=4096)


def test_put_list_open_round_trip(db: Database, blobs: BlobStore, run_id: str) -> None:
    data = bytes(range(256)) * 1000
    info = artifacts.put_artifact(db, blobs, run_id, "model/weights.bin", io.BytesIO(data))
    artifacts.put_artifact(db, blobs, run_id, "model/config.json", b"{}")
    artifacts.put_artifact(db, blobs, run_id, "README", iter([b"he", b"llo"]))
    artifacts.put_artifact(db, blobs, run_id, "model/sub/deep.txt", b"deep")
    assert (info.path, info.is_dir, info.file_size) == ("model/weights.bin", False, len(data))
    with db.read() as session:
        top = artifacts.list_artifacts(session, run_id)
        inside = artifacts.list_artifacts(session, run_id, "model")
        deeper = artifacts.list_artifacts(session, run_id, "model/sub")
        assert artifacts.list_artifacts(session, run_id, "README") == []
        assert artifacts.list_artifacts(session, run_id, "nothing") == []
        got, reader = artifacts.open_artifact(session, blobs, run_id, "model/weights.bin")
    with reader:
        assert reader.read() == data
    assert got.digest == info.digest
    assert [(f.path, f.is_dir, f.file_size) for f in top] == [
        ("README", False, 5),
        ("model", True, None),
    ]
    assert [(f.path, f.is_dir) for f in inside] == [
        ("model/config.json", False),
        ("model/sub", True),
        ("model/weights.bin", False),
    ]
    assert [f.path for f in deeper] == ["model/sub/deep.txt"]


def test_put_replaces_the_file_at_a_path(db: Database, blobs: BlobStore, run_id: str) -> None:
    artifacts.put_artifact(db, blobs, run_id, "a.txt", b"one")
    second = artifacts.put_artifact(db, blobs, run_id, "a.txt", b"second")
    with db.read() as session:
        assert artifacts.list_artifacts(session, run_id) == [
            FileInfo("a.txt", False, 6, second.mtime, second.digest)
        ]
        _, reader = artifacts.open_artifact(session, blobs, run_id, "a.txt")
    with reader:
        assert reader.read() == b"second"


def test_files_and_directories_cannot_swap(db: Database, blobs: BlobStore, run_id: str) -> None:
    artifacts.put_artifact(db, blobs, run_id, "a/b", b"file")
    with pytest.raises(Conflict, match="'a/b' is a file"):
        artifacts.put_artifact(db, blobs, run_id, "a/b/c", b"x")
    with pytest.raises(Conflict, match="'a' is a directory"):
        artifacts.put_artifact(db, blobs, run_id, "a", b"x")
    artifacts.put_artifact(db, blobs, run_id, "ab", b"a sibling, not a child")


def test_delete_a_file_or_a_directory(db: Database, blobs: BlobStore, run_id: str) -> None:
    for path in ("d/1", "d/2", "d/e/3", "keep", "dd"):
        artifacts.put_artifact(db, blobs, run_id, path, path.encode())
    with db.write() as session:
        assert artifacts.delete_artifacts(session, run_id, "d") == 3
        assert artifacts.delete_artifacts(session, run_id, "keep") == 1
    with db.read() as session:
        assert [f.path for f in artifacts.list_artifacts(session, run_id)] == ["dd"]
    with pytest.raises(NotFound), db.write() as session:
        artifacts.delete_artifacts(session, run_id, "d")


def test_names_with_like_wildcards_are_exact(db: Database, blobs: BlobStore, run_id: str) -> None:
    artifacts.put_artifact(db, blobs, run_id, "a_/x", b"1")
    artifacts.put_artifact(db, blobs, run_id, "ab/y", b"2")
    artifacts.put_artifact(db, blobs, run_id, "100%/z", b"3")
    with db.read() as session:
        assert [f.path for f in artifacts.list_artifacts(session, run_id, "a_")] == ["a_/x"]
        assert [f.path for f in artifacts.list_artifacts(session, run_id, "100%")] == ["100%/z"]


def test_missing_files_and_runs(db: Database, blobs: BlobStore, run_id: str) -> None:
    artifacts.put_artifact(db, blobs, run_id, "dir/f", b"x")
    with db.read() as session:
        with pytest.raises(NotFound, match="no artifact file 'dir'"):
            artifacts.open_artifact(session, blobs, run_id, "dir")
        with pytest.raises(NotFound):
            artifacts.open_artifact(session, blobs, run_id, "nope")
        with pytest.raises(NotFound):
            artifacts.list_artifacts(session, "0" * 32)
    with pytest.raises(NotFound):
        artifacts.put_artifact(db, blobs, "0" * 32, "f", b"x")


@pytest.mark.parametrize(
    "path", ["../x", "a/../../b", "%2e%2e/x", "/etc/passwd", "file:///x", "a\\b"]
)
def test_unsafe_paths_are_refused_before_any_byte_is_stored(
    db: Database,
    blobs: BlobStore,
    run_id: str,
    row_counts: Callable[[], Counts],
    path: str,
) -> None:
    read = []

    def source() -> Iterator[bytes]:
        read.append(True)
        yield b"x"

    before = row_counts()
    with pytest.raises(InvalidInput, match="refused"):
        artifacts.put_artifact(db, blobs, run_id, path, source())
    assert read == []
    assert list(blobs.digests()) == []
    assert row_counts() == before
    with db.read() as session:
        with pytest.raises(InvalidInput):
            artifacts.list_artifacts(session, run_id, path)
        with pytest.raises(InvalidInput):
            artifacts.open_artifact(session, blobs, run_id, path)
    with pytest.raises(InvalidInput), db.write() as session:
        artifacts.delete_artifacts(session, run_id, path)


def test_a_deleted_run_takes_no_artifacts(db: Database, blobs: BlobStore, run_id: str) -> None:
    artifacts.put_artifact(db, blobs, run_id, "kept", b"x")
    with db.write() as session:
        runs.delete_run(session, run_id)
    with pytest.raises(Conflict, match="deleted"):
        artifacts.put_artifact(db, blobs, run_id, "new", b"x")
    with db.read() as session:
        assert [f.path for f in artifacts.list_artifacts(session, run_id)] == ["kept"]
