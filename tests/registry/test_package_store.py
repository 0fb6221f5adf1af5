"""Packages in the blob store: files streamed in, manifest last, read back and verified."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corridor.errors import BlobCorrupted, InvalidInput, NotFound
from corridor.registry.folders import collect_files
from corridor.registry.manifest import FileEntry, ManifestFields
from corridor.registry.package_store import (
    open_package,
    read_manifest,
    store_manifest,
    store_package,
    verify_package,
)
from corridor.store.blobs import BlobStore
from tests.registry.conftest import make_files

FIELDS = ManifestFields(flavour="corridor.linear", entry="model.json")


def _blob_count(blobs: BlobStore) -> int:
    return len(list(blobs.digests()))


def test_a_folder_is_stored_file_by_file_then_its_manifest(
    blobs: BlobStore, tmp_path: Path
) -> None:
    big = os.urandom(50_000)  # several 4 KiB chunks
    folder = make_files(tmp_path / "m", {"model.json": b"{}", "weights/w.bin": big})
    digest, manifest = store_package(blobs, folder, FIELDS)
    assert set(manifest.files) == {"model.json", "weights/w.bin"}
    assert manifest.files["weights/w.bin"].size == len(big)
    package = open_package(blobs, digest)
    assert package.manifest == manifest
    with package.open("weights/w.bin") as f:
        assert f.read() == big
    assert verify_package(blobs, digest, read_all=True) == manifest
    with pytest.raises(NotFound, match="no file"):
        package.open("../weights/w.bin")


def test_a_single_file_and_explicit_pairs_can_be_packaged(blobs: BlobStore, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_bytes(b"{}")
    _, one = store_package(blobs, path, FIELDS)
    assert list(one.files) == ["model.json"]
    _, pairs = store_package(blobs, [("model.json", path), ("copy/model.json", path)], FIELDS)
    assert set(pairs.files) == {"model.json", "copy/model.json"}
    # Same bytes, one blob.
    assert pairs.files["model.json"].digest == pairs.files["copy/model.json"].digest


def test_bad_input_writes_nothing(blobs: BlobStore, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_bytes(b"{}")
    with pytest.raises(InvalidInput, match=r"'\.\.' segment"):
        store_package(blobs, [("model.json", path), ("../escape", path)], FIELDS)
    with pytest.raises(InvalidInput, match="entry"):
        store_package(blobs, [("other.json", path)], FIELDS)
    with pytest.raises(InvalidInput, match="given twice"):
        store_package(blobs, [("model.json", path), ("model.json", path)], FIELDS)
    assert _blob_count(blobs) == 0


def test_links_leaving_the_folder_are_refused(blobs: BlobStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"server secret")
    folder = make_files(tmp_path / "m", {"model.json": b"{}"})
    (folder / "leak.txt").symlink_to(secret)
    with pytest.raises(InvalidInput, match="outside the folder"):
        store_package(blobs, folder, FIELDS)
    (folder / "leak.txt").unlink()
    (folder / "up").symlink_to(tmp_path)
    with pytest.raises(InvalidInput, match="outside the folder"):
        collect_files(folder)
    assert _blob_count(blobs) == 0


def test_links_inside_the_folder_are_packaged_as_files(blobs: BlobStore, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "m", {"model.json": b"{}", "sub/a.txt": b"a"})
    (folder / "alias.json").symlink_to(folder / "model.json")
    (folder / "subdir-link").symlink_to(folder / "sub")
    with pytest.raises(InvalidInput, match="link to a folder"):
        collect_files(folder)
    (folder / "subdir-link").unlink()
    assert [rel for rel, _ in collect_files(folder)] == ["alias.json", "model.json", "sub/a.txt"]


def test_special_files_and_empty_folders_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match="no files"):
        collect_files(empty)
    folder = make_files(tmp_path / "m", {"model.json": b"{}"})
    os.mkfifo(folder / "pipe")
    with pytest.raises(InvalidInput, match="not a regular file"):
        collect_files(folder)


def test_a_manifest_is_stored_only_if_every_file_is_there(blobs: BlobStore) -> None:
    present = FileEntry(digest=blobs.put(b"{}"), size=2)
    missing = FileEntry(digest="ab" * 32, size=2)
    with pytest.raises(InvalidInput, match="never uploaded"):
        store_manifest(blobs, FIELDS, {"model.json": present, "w.bin": missing})
    with pytest.raises(InvalidInput, match="listed as 3 bytes"):
        store_manifest(blobs, FIELDS, {"model.json": FileEntry(digest=present.digest, size=3)})
    assert _blob_count(blobs) == 1
    digest, _ = store_manifest(blobs, FIELDS, {"model.json": present})
    assert read_manifest(blobs, digest).files["model.json"] == present


def test_a_blob_that_is_not_a_manifest_is_not_a_package(blobs: BlobStore) -> None:
    digest = blobs.put(b"just some bytes")
    with pytest.raises(InvalidInput, match="not a package manifest"):
        open_package(blobs, digest)
    with pytest.raises(NotFound):
        open_package(blobs, "ef" * 32)


def test_verification_finds_missing_and_altered_files(blobs: BlobStore, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "m", {"model.json": b"{}", "w.bin": os.urandom(10_000)})
    digest, manifest = store_package(blobs, folder, FIELDS)
    key = f"objects/{manifest.files['w.bin'].digest[:2]}/{manifest.files['w.bin'].digest}"
    with blobs.raw.open_read(key) as f:
        stored = f.read()
    blobs.raw.write_bytes(key, stored[:-5] + bytes(b ^ 1 for b in stored[-5:]))
    with pytest.raises(BlobCorrupted):
        verify_package(blobs, digest, read_all=True)
    blobs.delete(manifest.files["w.bin"].digest)
    with pytest.raises(InvalidInput, match="never uploaded"):
        verify_package(blobs, digest)
