"""A logged model's files: the same artifact tree as a run's, kept apart from every run's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.config import Settings
from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.security import projects
from corridor.security.models import Project
from corridor.store.blobs import BlobStore, open_raw_store
from corridor.store.blobs.crypto import create_master_key
from corridor.store.db import Database
from corridor.tracking import artifacts, logged_models
from corridor.tracking.entities import ExperimentRecord, FileInfo
from corridor.tracking.logged_models_outputs import log_outputs
from tests.tracking.test_logged_models import model_rows


@pytest.fixture
def blobs(home: Path) -> BlobStore:
    key = home / "master.key"
    create_master_key(key)
    url = (home / "blobs").as_uri()
    return BlobStore(open_raw_store(url, Settings(home=home)), key, chunk_bytes=4096)


@pytest.fixture
def model_id(db: Database, experiment: ExperimentRecord) -> str:
    with db.write() as session:
        return logged_models.create_logged_model(session, experiment.experiment_id).model_id


def test_put_list_open_and_delete_a_models_files(
    db: Database, blobs: BlobStore, model_id: str
) -> None:
    artifacts.put_artifact(db, blobs, model_id, "MLmodel", b"flavors: {}")
    artifacts.put_artifact(db, blobs, model_id, "model/weights.bin", iter([b"ab", b"cd"]))
    with db.read() as session:
        top = artifacts.list_artifacts(session, model_id)
        info, reader = artifacts.open_artifact(session, blobs, model_id, "model/weights.bin")
    assert [(f.path, f.is_dir) for f in top] == [("MLmodel", False), ("model", True)]
    assert (info.file_size, reader.read()) == (4, b"abcd")
    with db.write() as session:
        assert artifacts.delete_artifacts(session, model_id, "model") == 1
    with db.read() as session:
        assert [f.path for f in artifacts.list_artifacts(session, model_id)] == ["MLmodel"]
        with pytest.raises(NotFound, match=f"logged model {model_id} has no artifact file"):
            artifacts.stat_artifact(session, model_id, "model/weights.bin")


def test_a_run_and_a_model_keep_separate_trees(
    db: Database, blobs: BlobStore, run_id: str, model_id: str
) -> None:
    artifacts.put_artifact(db, blobs, run_id, "a/file", b"run")
    artifacts.put_artifact(db, blobs, model_id, "a", b"model")  # a file where the run has a dir
    with db.read() as session:
        assert artifacts.list_artifacts(session, run_id) == [FileInfo("a", True, None)]
        assert [f.is_dir for f in artifacts.list_artifacts(session, model_id)] == [False]
        _, reader = artifacts.open_artifact(session, blobs, model_id, "a")
        assert reader.read() == b"model"


def test_a_ready_model_takes_files_a_deleted_one_does_not(
    db: Database, blobs: BlobStore, model_id: str
) -> None:
    """MLflow's ``log_model(model_id=...)`` uploads into a READY model (an external model made
    READY at creation gets its files later); a deleted model refuses, as a deleted run does."""
    with db.write() as session:
        logged_models.finalize_logged_model(session, model_id, "READY")
    artifacts.put_artifact(db, blobs, model_id, "MLmodel", b"v1")
    with db.write() as session:
        logged_models.delete_logged_model(session, model_id)
    with pytest.raises(Conflict, match="deleted"):
        artifacts.put_artifact(db, blobs, model_id, "MLmodel", b"v2")
    with pytest.raises(Conflict, match="deleted"), db.write() as session:
        artifacts.delete_artifacts(session, model_id, "MLmodel")
    with db.read() as session:
        _, reader = artifacts.open_artifact(session, blobs, model_id, "MLmodel")
    assert reader.read() == b"v1"


@pytest.mark.parametrize("path", ["../x", "a/../../b", "%2e%2e/x", "/etc/passwd", "a\\b", "a//b"])
def test_unsafe_paths_are_refused_before_any_byte_is_read(
    db: Database, blobs: BlobStore, model_id: str, path: str
) -> None:
    read = []

    def source() -> Iterator[bytes]:
        read.append(True)
        yield b"x"

    before = model_rows(db)
    with pytest.raises(InvalidInput, match="refused"):
        artifacts.put_artifact(db, blobs, model_id, path, source())
    assert (read, list(blobs.digests()), model_rows(db)) == ([], [], before)


def test_unknown_models_have_no_tree(db: Database, blobs: BlobStore) -> None:
    missing = "m-" + "0" * 32
    with pytest.raises(NotFound, match="logged model"):
        artifacts.put_artifact(db, blobs, missing, "f", b"x")
    with db.read() as session, pytest.raises(NotFound, match="logged model"):
        artifacts.list_artifacts(session, missing)
    assert list(blobs.digests()) == []


def test_model_files_count_as_referenced_blobs(
    db: Database, blobs: BlobStore, model_id: str
) -> None:
    stored = artifacts.put_artifact(db, blobs, model_id, "MLmodel", b"kept by a model")
    with db.read() as session:
        referenced = {d for query in artifacts.referenced_blobs() for d in session.scalars(query)}
    assert stored.digest in referenced


def test_deleting_the_project_removes_its_models_for_good(
    db: Database, blobs: BlobStore, project: Project, run_id: str, model_id: str
) -> None:
    with db.write() as session:
        logged_models.set_logged_model_tags(session, model_id, {"k": "v"})
        logged_models.log_logged_model_params(session, model_id, {"p": "1"})
        log_outputs(session, run_id, [(model_id, 0)])
    artifacts.put_artifact(db, blobs, model_id, "MLmodel", b"flavors: {}")
    assert set(model_rows(db).values()) == {1}
    with db.write() as session:
        projects.delete_project(session, project.id)
    assert set(model_rows(db).values()) == {0}
