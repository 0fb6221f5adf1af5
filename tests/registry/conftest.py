"""Fixtures for registry tests: a blob store, projects with members, and package builders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from corridor.config import Settings
from corridor.data.models import Dataset, DatasetVersion
from corridor.registry import service
from corridor.registry.manifest import FileEntry, ManifestFields
from corridor.registry.package_store import put_file
from corridor.security import identity, projects
from corridor.security.models import Project
from corridor.security.policy import Principal, Role
from corridor.store.blobs import BlobStore, open_raw_store
from corridor.store.blobs.crypto import create_master_key
from corridor.store.db import Database
from corridor.tracking import experiments, runs
from tests.server.conftest import app, http, runtime, world  # noqa: F401 (fixtures)

ADMIN = Principal.local_admin()


@pytest.fixture
def blobs(home: Path) -> BlobStore:
    """A local encrypted blob store with small chunks."""
    key = home / "master.key"
    create_master_key(key)
    settings = Settings(home=home, blob_url=(home / "blobs").as_uri())
    return BlobStore(open_raw_store(settings.effective_blob_url, settings), key, chunk_bytes=4096)


@dataclass
class Team:
    """Project ``churn`` (alice admin, ed editor, vic viewer) and ``other`` (mallory)."""

    churn: Project
    other: Project
    people: dict[str, Principal]


@pytest.fixture
def team(db: Database) -> Team:
    people: dict[str, Principal] = {}
    with db.write() as session:
        for name in ("alice", "ed", "vic", "mallory"):
            user = identity.create_user(session, name)
            people[name] = Principal(user_id=user.id, name=name, is_admin=False)
        churn = projects.create_project(session, "churn", description="", by=people["alice"])
        other = projects.create_project(session, "other", description="", by=people["mallory"])
        projects.grant(session, churn, "ed", Role.EDITOR)
        projects.grant(session, churn, "vic", Role.VIEWER)
    return Team(churn, other, people)


def upload(db: Database, blobs: BlobStore, project: Project, path: Path) -> FileEntry:
    """Put a file in the blob store and stage it in ``project``, as the upload route does."""
    entry = put_file(blobs, path)
    with db.write() as session:
        service.stage_blobs(session, project.id, {entry.digest: entry.size})
    return entry


def make_run(db: Database, project: Project, experiment: str = "exp") -> str:
    """A run in ``project`` (in its experiment ``experiment``); return its id."""
    with db.write() as session:
        exp = experiments.get_or_create_experiment(session, project, experiment)
        return runs.create_run(session, exp.experiment_id, user="alice").info.run_id


def make_dataset_version(db: Database, project: Project, name: str) -> str:
    """Version 1 of dataset ``name`` in ``project`` (rows only: no bytes are read); its id."""
    with db.write() as session:
        dataset = Dataset(project_id=project.id, name=name, created_by="alice", last_version=1)
        session.add(dataset)
        session.flush()
        version = DatasetVersion(
            dataset_id=dataset.id,
            version=1,
            digest="0" * 64,
            size_bytes=0,
            row_count=0,
            columns=[],
            sensitivity="internal",
            created_by="alice",
        )
        session.add(version)
        session.flush()
        return version.id


def make_files(folder: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


@dataclass
class Packager:
    """Upload files into a project and register the package, as a client would."""

    db: Database
    blobs: BlobStore
    tmp: Path

    def package(
        self, project: Project, files: dict[str, bytes] | None = None, **fields: object
    ) -> str:
        files = files or {"model.json": b'{"weights": [1.0, 2.0], "bias": 0.5}'}
        folder = make_files(self.tmp / f"pkg-{len(list(self.tmp.iterdir()))}", files)
        entries = {rel: upload(self.db, self.blobs, project, folder / rel) for rel in files}
        spec = ManifestFields.model_validate({"flavour": "corridor.linear", **fields})
        with self.db.write() as session:
            digest, _ = service.register_package(session, self.blobs, project.id, spec, entries)
        return digest


@pytest.fixture
def packager(db: Database, blobs: BlobStore, tmp_path: Path) -> Packager:
    folder = tmp_path / "packages"
    folder.mkdir()
    return Packager(db, blobs, folder)
