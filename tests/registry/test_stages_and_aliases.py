"""MLflow stages (with archive_existing_versions), latest versions, aliases and models:/ URIs."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from corridor.errors import InvalidInput, NotFound
from corridor.registry import service
from corridor.registry.models import ModelAlias
from corridor.store.blobs import BlobStore
from corridor.store.db import Database
from tests.registry.conftest import ADMIN, Packager, Team

NAME = "churn/fraud"


@pytest.fixture
def versions(db: Database, blobs: BlobStore, team: Team, packager: Packager) -> int:
    digest = packager.package(team.churn)
    with db.write() as session:
        service.create_registered_model(session, team.churn, NAME)
        for _ in range(4):
            service.create_model_version(session, blobs, NAME, by=ADMIN, package_digest=digest)
    return 4


def _stages(db: Database) -> dict[int, str]:
    with db.read() as session:
        page = service.search_model_versions(
            session, project_ids=None, filter_string=f"name = '{NAME}'"
        )
    return {v.version: v.current_stage for v in page.items}


def test_transition_and_archive_existing_versions(db: Database, versions: int) -> None:
    with db.write() as session:
        service.transition_model_version_stage(session, NAME, 1, "production")
        service.transition_model_version_stage(session, NAME, 2, "Production")
        service.transition_model_version_stage(session, NAME, 3, "staging")
    assert _stages(db) == {1: "Production", 2: "Production", 3: "Staging", 4: "None"}
    with db.write() as session:
        moved = service.transition_model_version_stage(
            session, NAME, 4, "Production", archive_existing_versions=True
        )
    assert moved.current_stage == "Production"
    assert _stages(db) == {1: "Archived", 2: "Archived", 3: "Staging", 4: "Production"}
    with pytest.raises(InvalidInput, match="applies to Staging and Production"), db.write() as s:
        service.transition_model_version_stage(
            s, NAME, 3, "Archived", archive_existing_versions=True
        )
    with pytest.raises(InvalidInput, match="not one of"), db.write() as s:
        service.transition_model_version_stage(s, NAME, 3, "Deleted")


def test_latest_versions_per_stage(db: Database, versions: int) -> None:
    with db.write() as session:
        service.transition_model_version_stage(session, NAME, 1, "Production")
        service.transition_model_version_stage(session, NAME, 2, "Staging")
    with db.read() as session:
        latest = service.get_latest_versions(session, NAME)
        assert [(v.version, v.current_stage) for v in latest] == [
            (1, "Production"),
            (2, "Staging"),
            (4, "None"),
        ]
        only = service.get_latest_versions(session, NAME, ["production", "Archived"])
        assert [v.version for v in only] == [1]
        record = service.get_registered_model(session, NAME)
    assert [v.version for v in record.latest_versions] == [1, 2, 4]


def test_aliases_point_move_resolve_and_vanish_with_their_version(
    db: Database, versions: int
) -> None:
    with db.write() as session:
        service.set_registered_model_alias(session, NAME, "production", 2)
        service.set_registered_model_alias(session, NAME, "candidate", "3")
        service.set_registered_model_alias(session, NAME, "candidate", 4)
    with db.read() as session:
        assert service.get_model_version_by_alias(session, NAME, "candidate").version == 4
        record = service.get_registered_model(session, NAME)
        assert record.aliases == {"candidate": 4, "production": 2}
        assert service.get_model_version(session, NAME, 2).aliases == ["production"]
        assert service.resolve_model_uri(session, f"models:/{NAME}@production").version == 2
        assert service.resolve_model_uri(session, f"models:/{NAME}/3").version == 3
        assert service.resolve_model_uri(session, f"models:/{NAME}/latest").version == 4
    with db.write() as session:
        service.transition_model_version_stage(session, NAME, 1, "Staging")
    with db.read() as session:
        assert service.resolve_model_uri(session, f"models:/{NAME}/staging").version == 1
        with pytest.raises(NotFound, match="no version in stage Production"):
            service.resolve_model_uri(session, f"models:/{NAME}/Production")
    with db.write() as session:
        service.delete_model_version(session, NAME, 2)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(ModelAlias)) == 1
        with pytest.raises(NotFound, match="no alias 'production'"):
            service.get_model_version_by_alias(session, NAME, "production")
    with db.write() as session:
        service.delete_registered_model_alias(session, NAME, "candidate")
        service.delete_registered_model_alias(session, NAME, "never-set")
    with db.read() as session:
        assert service.get_registered_model(session, NAME).aliases == {}


def test_alias_rules(db: Database, versions: int) -> None:
    for alias, version in (("latest", 1), ("v2", 1), ("a b", 1)):
        with pytest.raises(InvalidInput), db.write() as session:
            service.set_registered_model_alias(session, NAME, alias, version)
    with pytest.raises(NotFound, match="no version 9"), db.write() as session:
        service.set_registered_model_alias(session, NAME, "prod", 9)
