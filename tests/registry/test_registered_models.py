"""Registered models in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from corridor.errors import AlreadyExists, InvalidInput, NotFound
from corridor.registry import service
from corridor.registry.models import RegisteredModel, RegisteredModelTag
from corridor.security import projects
from corridor.security.projects import DEFAULT_PROJECT, qualified_name, resolve_project_for_name
from corridor.store.db import Database
from tests.registry.conftest import Team


def test_create_get_and_describe_a_model(db: Database, team: Team) -> None:
    with db.write() as session:
        created = service.create_registered_model(
            session, team.churn, "churn/fraud", description="catches fraud", tags={"team": "risk"}
        )
    assert created.project == "churn"
    assert created.creation_time == created.last_updated_time > 1_600_000_000_000
    with db.read() as session:
        found = service.get_registered_model(session, "churn/fraud")
    assert (found.name, found.description, found.tags) == (
        "churn/fraud",
        "catches fraud",
        {"team": "risk"},
    )
    assert found.latest_versions == []
    assert found.aliases == {}
    with db.write() as session:
        updated = service.update_registered_model(session, "churn/fraud", description="new")
    assert updated.description == "new"
    assert updated.last_updated_time >= found.last_updated_time


def test_names_are_unique_across_the_server(db: Database, team: Team) -> None:
    with db.write() as session:
        service.create_registered_model(session, team.churn, "churn/fraud")
    with pytest.raises(AlreadyExists), db.write() as session:
        service.create_registered_model(session, team.churn, "churn/fraud")


def test_a_model_in_a_project_carries_the_project_prefix(db: Database, team: Team) -> None:
    assert qualified_name("churn", "fraud") == "churn/fraud"
    assert qualified_name("churn", "churn/fraud") == "churn/fraud"
    assert qualified_name(DEFAULT_PROJECT, "fraud") == "fraud"
    with pytest.raises(InvalidInput, match="is named 'churn/"), db.write() as session:
        service.create_registered_model(session, team.churn, "other/fraud")
    with pytest.raises(InvalidInput), db.write() as session:
        service.create_registered_model(session, team.churn, "churn/../x")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(RegisteredModel)) == 0


def test_mlflow_names_find_their_project(db: Database, team: Team) -> None:
    with db.write() as session:
        assert resolve_project_for_name(session, "churn/fraud").id == team.churn.id
        default = resolve_project_for_name(session, "fraud")
        assert default.name == DEFAULT_PROJECT
        assert resolve_project_for_name(session, "nowhere/fraud").id == default.id
        assert resolve_project_for_name(session, "default/fraud").id == default.id
        assert resolve_project_for_name(session, "churn/").id == default.id
        assert projects.list_members(session, default) == []


def test_rename_keeps_versions_and_the_project(db: Database, team: Team) -> None:
    with db.write() as session:
        service.create_registered_model(session, team.churn, "churn/fraud")
        service.create_registered_model(session, team.churn, "churn/taken")
    with db.write() as session:
        renamed = service.rename_registered_model(session, "churn/fraud", "churn/fraud-v2")
    assert renamed.name == "churn/fraud-v2"
    with pytest.raises(NotFound), db.read() as session:
        service.get_registered_model(session, "churn/fraud")
    with pytest.raises(AlreadyExists), db.write() as session:
        service.rename_registered_model(session, "churn/fraud-v2", "churn/taken")
    with pytest.raises(InvalidInput, match="is named 'churn/"), db.write() as session:
        service.rename_registered_model(session, "churn/fraud-v2", "other/stolen")


def test_project_scoped_lookups_hide_other_projects_models(db: Database, team: Team) -> None:
    with db.write() as session:
        service.create_registered_model(session, team.churn, "churn/fraud")
    with db.read() as session:
        assert service.get_registered_model(session, "churn/fraud", project_id=team.churn.id)
        with pytest.raises(NotFound, match="not found"):
            service.get_registered_model(session, "churn/fraud", project_id=team.other.id)
        assert service.model_project(session, "churn/fraud").name == "churn"


def test_tags_are_set_replaced_and_deleted(db: Database, team: Team) -> None:
    with db.write() as session:
        service.create_registered_model(session, team.churn, "churn/fraud")
        service.set_registered_model_tag(session, "churn/fraud", "k", "1")
        service.set_registered_model_tag(session, "churn/fraud", "k", "2")
        service.set_registered_model_tag(session, "churn/fraud", "gone", "x")
        service.delete_registered_model_tag(session, "churn/fraud", "gone")
        service.delete_registered_model_tag(session, "churn/fraud", "never-there")
    with db.read() as session:
        assert service.get_registered_model(session, "churn/fraud").tags == {"k": "2"}
    with pytest.raises(InvalidInput), db.write() as session:
        service.set_registered_model_tag(session, "churn/fraud", "bad\nkey", "x")


def test_deleting_a_model_deletes_its_rows(db: Database, team: Team) -> None:
    with db.write() as session:
        service.create_registered_model(session, team.churn, "churn/fraud", tags={"a": "b"})
    with db.write() as session:
        service.delete_registered_model(session, "churn/fraud")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(RegisteredModelTag)) == 0
        with pytest.raises(NotFound):
            service.get_registered_model(session, "churn/fraud")


def test_deleting_the_project_deletes_its_models(db: Database, team: Team) -> None:
    with db.write() as session:
        service.create_registered_model(session, team.churn, "churn/fraud")
    with db.write() as session:
        projects.delete_project(session, team.churn.id)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(RegisteredModel)) == 0
