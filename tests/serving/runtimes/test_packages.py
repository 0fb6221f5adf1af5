"""Packages as folders: written whole or not at all, once, whoever asks at the same time."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from corridor.errors import IntegrityError, NotFound, SignatureInvalid
from corridor.registry.manifest import MANIFEST_FILE_NAME
from corridor.registry.package_signing import SIGNATURE_FILE_NAME
from corridor.serving.packages import discard, materialise, package_cache
from corridor.serving.runtimes.registry import load_served_model
from corridor.store.blobs import RawStore
from corridor.store.blobs.layout import object_key
from corridor.store.blobs.local import LocalRawStore
from tests.serving.runtimes.conftest import Registered


def test_a_package_folder_holds_its_files_manifest_and_signature(
    world: Registered, tmp_path: Path
) -> None:
    path, manifest = world.materialise("adder", cache=tmp_path)
    assert path == tmp_path / world.digests["adder"]
    on_disk = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    assert on_disk == {*manifest.files, MANIFEST_FILE_NAME, SIGNATURE_FILE_NAME}
    assert [p.name for p in tmp_path.iterdir()] == [world.digests["adder"]]


def test_a_complete_folder_is_reused_not_rewritten(world: Registered, tmp_path: Path) -> None:
    path, _ = world.materialise("linear", cache=tmp_path)
    before = (path / "model.json").stat()
    again, manifest = world.materialise("linear", cache=tmp_path)
    after = (again / "model.json").stat()
    assert again == path
    assert manifest.entry == "model.json"
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_callers_at_the_same_time_get_the_one_complete_folder(
    world: Registered, tmp_path: Path
) -> None:
    signature = world.signature_of("mlp")
    barrier = threading.Barrier(6)
    results: list[Path] = []

    def one() -> None:
        barrier.wait()
        path, _ = materialise(
            world.runtime.blobs, world.digests["mlp"], tmp_path, signature=signature
        )
        results.append(path)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [tmp_path / world.digests["mlp"]] * 6
    assert [p.name for p in tmp_path.iterdir()] == [world.digests["mlp"]]
    _, manifest = world.materialise("mlp", cache=tmp_path)
    for rel, entry in manifest.files.items():
        assert (results[0] / rel).stat().st_size == entry.size


def test_a_package_that_cannot_be_read_leaves_no_folder(world: Registered, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        materialise(world.runtime.blobs, "0" * 64, tmp_path / "cache")
    # A listed file whose blob is gone: the failure leaves nothing behind, not half a folder.
    manifest_digest = world.digests["linear"]
    _, manifest = world.materialise("linear", cache=tmp_path / "first")
    blob = manifest.files["model.json"].digest
    raw = world.runtime.blobs.raw
    saved = tmp_path / "saved-blob"
    _move_blob(raw, blob, saved)
    try:
        with pytest.raises(NotFound):
            materialise(world.runtime.blobs, manifest_digest, tmp_path / "cache")
    finally:
        _restore_blob(raw, blob, saved)
    assert list((tmp_path / "cache").iterdir()) == []


def _move_blob(raw: RawStore, digest: str, saved: Path) -> None:
    assert isinstance(raw, LocalRawStore)
    raw.path(object_key(digest)).rename(saved)


def _restore_blob(raw: RawStore, digest: str, saved: Path) -> None:
    assert isinstance(raw, LocalRawStore)
    saved.rename(raw.path(object_key(digest)))


def test_the_server_keeps_packages_under_its_home(world: Registered) -> None:
    home = world.runtime.settings.home
    assert package_cache(world.runtime.settings) == home / "serving" / "packages"


def test_a_discarded_folder_is_written_again_and_loads(world: Registered, tmp_path: Path) -> None:
    path, manifest = world.materialise("linear", cache=tmp_path)
    (path / "model.json").write_bytes(b'{"weights": [9.0], "bias": 9.0}')
    with pytest.raises(SignatureInvalid):
        load_served_model(path, manifest, public_keys=world.keys())
    discard(tmp_path, world.digests["linear"])
    discard(tmp_path, world.digests["linear"])  # nothing left to remove: no error
    assert list(tmp_path.iterdir()) == []
    path, manifest = world.materialise("linear", cache=tmp_path)
    assert load_served_model(path, manifest, public_keys=world.keys()).signature.inputs


def test_a_folder_without_its_manifest_is_an_integrity_error_saying_to_discard_it(
    world: Registered, tmp_path: Path
) -> None:
    path, _ = world.materialise("linear", cache=tmp_path)
    (path / MANIFEST_FILE_NAME).unlink()
    with pytest.raises(IntegrityError, match="discard it"):
        world.materialise("linear", cache=tmp_path)
