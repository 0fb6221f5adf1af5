"""Registering versions: from packages and sources, immutable, nothing partial on refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.lineage.models import LineageEdge
from corridor.registry import service
from corridor.registry.manifest import FileEntry, ManifestFields
from corridor.registry.models import ModelVersion, ModelVersionTag
from corridor.registry.package_store import open_package
from corridor.registry.validation import VersionStatus
from corridor.store.blobs import BlobStore
from corridor.store.db import Database
from tests.registry.conftest import (
    ADMIN,
    Packager,
    Team,
    make_dataset_version,
    make_files,
    make_run,
    upload,
)

RUN = "0123456789abcdef0123456789abcdef"  # a well-formed id that names no run
OTHER_RUN = "f" * 32


@pytest.fixture
def run(db: Database, team: Team) -> str:
    """A run in project churn."""
    return make_run(db, team.churn)


@pytest.fixture
def model(db: Database, team: Team) -> str:
    with db.write() as session:
        service.create_registered_model(session, team.churn, "churn/fraud")
    return "churn/fraud"


def _counts(db: Database) -> tuple[int, int, int]:
    with db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(ModelVersion)) or 0,
            session.scalar(select(func.count()).select_from(ModelVersionTag)) or 0,
            session.scalar(select(func.count()).select_from(LineageEdge)) or 0,
        )


def test_a_version_from_a_package_is_ready_and_numbered(
    db: Database, blobs: BlobStore, team: Team, packager: Packager, model: str, run: str
) -> None:
    make_dataset_version(db, team.churn, "sales")
    digest = packager.package(team.churn, source_run=run, dataset_versions=["sales@1"])
    ed = team.people["ed"]
    with db.write() as session:
        v1 = service.create_model_version(
            session, blobs, model, by=ed, package_digest=digest, tags={"k": "v"}, description="d"
        )
        v2 = service.create_model_version(session, blobs, model, by=ed, package_digest=digest)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.status == VersionStatus.READY
    assert v1.source == v1.storage_location == f"corridor-package:{digest}"
    assert (v1.package_digest, v1.flavour, v1.scope) == (digest, "corridor.linear", "general")
    assert v1.run_id == run  # from the manifest's source_run
    assert (v1.user_id, v1.current_stage, v1.tags, v1.description) == (
        "ed",
        "None",
        {"k": "v"},
        "d",
    )
    with db.read() as session:
        assert service.get_registered_model(session, model).last_updated_time >= v2.creation_time
        assert service.get_model_version(session, model, "2").id == v2.id


def test_version_numbers_are_never_reused(
    db: Database, blobs: BlobStore, team: Team, packager: Packager, model: str
) -> None:
    digest = packager.package(team.churn)
    with db.write() as session:
        for _ in range(3):
            service.create_model_version(session, blobs, model, by=ADMIN, package_digest=digest)
        service.delete_model_version(session, model, 3)
        again = service.create_model_version(session, blobs, model, by=ADMIN, package_digest=digest)
    assert again.version == 4


def test_a_run_source_is_pending_until_its_package_arrives(
    db: Database, blobs: BlobStore, team: Team, packager: Packager, model: str, run: str
) -> None:
    with db.write() as session:
        pending = service.create_model_version(
            session, blobs, model, by=ADMIN, source=f"runs:/{run}/model", run_link="http://x"
        )
    assert pending.status == VersionStatus.PENDING_REGISTRATION
    assert (pending.run_id, pending.package_digest, pending.storage_location) == (run, None, None)
    digest = packager.package(team.churn, source_run=run)
    with db.write() as session:
        ready = service.finish_model_version(
            session, blobs, model, 1, package_digest=digest, by=ADMIN
        )
    assert ready.status == VersionStatus.READY
    assert ready.source == f"runs:/{run}/model"
    assert ready.package_digest == digest
    with pytest.raises(Conflict, match="only a pending version"), db.write() as session:
        service.finish_model_version(session, blobs, model, 1, package_digest=digest, by=ADMIN)
    with db.write() as session:
        service.create_model_version(session, blobs, model, by=ADMIN, source=f"runs:/{run}/m")
        failed = service.fail_model_version(session, model, 2, message="copy failed")
    assert (failed.status, failed.status_message) == ("FAILED_REGISTRATION", "copy failed")


def test_a_source_naming_another_runs_artifacts_is_refused(
    db: Database, blobs: BlobStore, team: Team, packager: Packager, model: str, run: str
) -> None:
    other = make_run(db, team.churn)
    before = _counts(db)
    with pytest.raises(InvalidInput, match="points at run"), db.write() as session:
        service.create_model_version(
            session, blobs, model, by=ADMIN, source=f"runs:/{other}/model", run_id=run
        )
    with pytest.raises(InvalidInput, match="points at run"), db.write() as session:
        service.create_model_version(
            session,
            blobs,
            model,
            by=ADMIN,
            source=f"mlflow-artifacts:/1/{other}/artifacts/model",
            run_id=run,
        )
    digest = packager.package(team.churn, source_run=other)
    with pytest.raises(InvalidInput, match="made by run"), db.write() as session:
        service.create_model_version(
            session, blobs, model, by=ADMIN, package_digest=digest, run_id=run
        )
    assert _counts(db) == before


@pytest.mark.parametrize(
    "source",
    [
        "file:///etc/passwd",
        "/etc/passwd",
        "http://169.254.169.254/latest",
        f"runs:/{RUN}/../../x",
        f"runs:/{RUN}/%2e%2e/x",
        f"runs:/{RUN}/%252e%252e/x",
        f"runs:/{RUN}/a;b",
        "s3://bucket/x",
    ],
)
def test_refused_sources_write_nothing(
    db: Database, blobs: BlobStore, model: str, source: str
) -> None:
    with pytest.raises(InvalidInput, match="refused"), db.write() as session:
        service.create_model_version(
            session, blobs, model, by=ADMIN, source=source, tags={"a": "b"}
        )
    assert _counts(db) == (0, 0, 0)
    with db.read() as session:
        assert service.get_registered_model(session, model).latest_versions == []


def test_bad_inputs_write_nothing(
    db: Database, blobs: BlobStore, team: Team, packager: Packager, model: str
) -> None:
    digest = packager.package(team.churn)
    cases = [
        ({"package_digest": "nope"}, InvalidInput),
        ({"package_digest": "ab" * 32}, NotFound),
        ({}, InvalidInput),
        ({"package_digest": digest, "tags": {"bad\nkey": "v"}}, InvalidInput),
        ({"package_digest": digest, "run_id": "not a run"}, InvalidInput),
        ({"package_digest": digest, "model_id": "x-1"}, InvalidInput),
        ({"package_digest": digest, "source": f"corridor-package:{'cd' * 32}"}, InvalidInput),
        ({"source": "models:/churn/fraud/1"}, NotFound),
    ]
    for kwargs, error in cases:
        with pytest.raises(error), db.write() as session:
            service.create_model_version(session, blobs, model, by=ADMIN, **kwargs)  # type: ignore[arg-type]
    assert _counts(db) == (0, 0, 0)
    with db.read() as session:
        assert service.get_registered_model(session, model).latest_versions == []


def test_a_package_with_files_of_another_project_is_refused(
    db: Database, blobs: BlobStore, team: Team, tmp_path: Path, model: str
) -> None:
    folder = make_files(tmp_path / "secret", {"weights.bin": b"other team's weights"})
    theirs = upload(db, blobs, team.other, folder / "weights.bin")
    mine = upload(db, blobs, team.churn, make_files(tmp_path / "m", {"a.json": b"{}"}) / "a.json")
    spec = ManifestFields(flavour="onnx")
    with pytest.raises(InvalidInput, match="not uploaded to this project"), db.write() as session:
        service.register_package(
            session, blobs, team.churn.id, spec, {"a.json": mine, "stolen.bin": theirs}
        )
    # Even a manifest blob put straight into the store is unusable without being staged.
    from corridor.registry.package_store import store_manifest

    crafted, _ = store_manifest(blobs, spec, {"stolen.bin": theirs})
    with pytest.raises(NotFound), db.write() as session:
        service.create_model_version(
            session, blobs, model, by=team.people["ed"], package_digest=crafted
        )
    assert _counts(db) == (0, 0, 0)


def test_packages_and_versions_of_unreadable_projects_cannot_be_copied(
    db: Database, blobs: BlobStore, team: Team, packager: Packager, model: str
) -> None:
    secret = packager.package(team.other)
    with db.write() as session:
        service.create_registered_model(session, team.other, "other/secret")
        service.create_model_version(
            session, blobs, "other/secret", by=ADMIN, package_digest=secret
        )
    ed = team.people["ed"]
    for kwargs in (
        {"package_digest": secret},
        {"source": f"corridor-package:{secret}"},
        {"source": "models:/other/secret/1"},
        {"source": "models:/other/secret/latest"},
    ):
        with pytest.raises(NotFound), db.write() as session:
            service.create_model_version(session, blobs, model, by=ed, **kwargs)  # type: ignore[arg-type]
    assert _counts(db)[0] == 1
    # Someone who can read both projects may promote a version across them.
    with db.write() as session:
        copy = service.create_model_version(
            session, blobs, model, by=ADMIN, source="models:/other/secret/1"
        )
    assert copy.package_digest == secret
    assert copy.source == "models:/other/secret/1"


def test_derived_from_must_name_a_readable_version(
    db: Database, blobs: BlobStore, team: Team, packager: Packager, model: str
) -> None:
    base = packager.package(team.churn)
    with db.write() as session:
        parent = service.create_model_version(session, blobs, model, by=ADMIN, package_digest=base)
    child_pkg = packager.package(
        team.churn, derived_from="models:/churn/fraud/1", scope="hyperlocal"
    )
    with db.write() as session:
        child = service.create_model_version(
            session, blobs, model, by=ADMIN, package_digest=child_pkg
        )
    assert child.scope == "hyperlocal"
    assert (parent.derived_from, child.derived_from) == (None, "models:/churn/fraud/1")
    with db.read() as session:
        assert service.get_model_version(session, model, 2).derived_from == child.derived_from
        up = service.upstream(session, service.Node(service.NodeKind.MODEL_VERSION, child.id))
    assert service.Node(service.NodeKind.MODEL_VERSION, parent.id) in up.nodes
    orphan = packager.package(team.churn, derived_from="models:/churn/fraud/9")
    with pytest.raises(NotFound, match="does not name a version"), db.write() as session:
        service.create_model_version(session, blobs, model, by=ADMIN, package_digest=orphan)


def test_versions_are_immutable_but_describable(
    db: Database, blobs: BlobStore, team: Team, packager: Packager, model: str
) -> None:
    digest = packager.package(team.churn)
    with db.write() as session:
        v = service.create_model_version(session, blobs, model, by=ADMIN, package_digest=digest)
        updated = service.update_model_version(session, model, 1, description="better words")
        service.set_model_version_tag(session, model, 1, "reviewed", "yes")
        service.delete_model_version_tag(session, model, 1, "absent")
    assert updated.description == "better words"
    same = {f: getattr(v, f) for f in ("source", "run_id", "package_digest", "flavour", "status")}
    assert {f: getattr(updated, f) for f in same} == same
    with db.read() as session:
        assert service.get_model_version(session, model, 1).tags == {"reviewed": "yes"}
    # The package under the version is content-addressed: its bytes cannot change either.
    package = open_package(blobs, digest)
    assert package.manifest.files["model.json"] == FileEntry(
        digest=package.manifest.files["model.json"].digest, size=36
    )
