"""Logged models in the tracking store: create, read, finalize, delete, tags and params."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.security import projects
from corridor.security.models import Project
from corridor.store.db import Database
from corridor.tracking import experiments, logged_models, runs
from corridor.tracking.entities import ExperimentRecord
from corridor.tracking.logged_models import LoggedModelStatus
from corridor.tracking.models import (
    LoggedModel,
    LoggedModelArtifact,
    LoggedModelParam,
    LoggedModelTag,
    RunModelOutput,
)
from tests.tracking.conftest import ADMIN

MODEL_TABLES = (LoggedModel, LoggedModelTag, LoggedModelParam, LoggedModelArtifact, RunModelOutput)


def model_rows(db: Database) -> dict[str, int]:
    """How many rows each logged-model table holds (to prove a refusal wrote nothing)."""
    with db.read() as session:
        return {
            t.__tablename__: session.scalar(select(func.count()).select_from(t)) or 0
            for t in MODEL_TABLES
        }


@pytest.fixture
def model_id(db: Database, experiment: ExperimentRecord, run_id: str) -> str:
    with db.write() as session:
        created = logged_models.create_logged_model(
            session,
            experiment.experiment_id,
            name="model",
            source_run_id=run_id,
            params={"lr": "0.1"},
            tags={"team": "ml"},
        )
    return created.model_id


def test_create_and_get_a_logged_model(
    db: Database, experiment: ExperimentRecord, run_id: str, model_id: str
) -> None:
    assert re.fullmatch(r"m-[0-9a-f]{32}", model_id)
    with db.read() as session:
        found = logged_models.get_logged_model(session, model_id)
        assert logged_models.project_of_logged_model(session, model_id) == "p"
    assert found.experiment_id == experiment.experiment_id
    assert (found.name, found.source_run_id, found.status) == ("model", run_id, "PENDING")
    assert found.artifact_location == (
        f"mlflow-artifacts:/{experiment.experiment_id}/models/{model_id}/artifacts"
    )
    assert found.lifecycle_stage == "active"
    assert found.creation_time == found.last_updated_time > 0
    assert (found.params, found.tags, found.model_type) == ({"lr": "0.1"}, {"team": "ml"}, None)


def test_a_model_without_a_name_or_run_gets_a_made_up_name(
    db: Database, experiment: ExperimentRecord
) -> None:
    with db.write() as session:
        made = logged_models.create_logged_model(
            session, experiment.experiment_id, model_type="agent"
        )
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d+", made.name)
    assert (made.source_run_id, made.model_type) == (None, "agent")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": "a/b"}, InvalidInput, "may not contain"),
        ({"name": "v1.2"}, InvalidInput, "may not contain"),
        ({"name": "x" * 501}, InvalidInput, "at most 500"),
        ({"name": "bad\nname"}, InvalidInput, "control character"),
        ({"model_type": "t" * 501}, InvalidInput, "at most 500"),
        ({"tags": {"": "v"}}, InvalidInput, "non-empty"),
        ({"tags": {"k": "v" * 8001}}, InvalidInput, "at most 8000"),
        ({"params": [("a", "1"), ("a", "2")]}, InvalidInput, "twice"),
        ({"params": {f"p{i}": "v" for i in range(101)}}, InvalidInput, "at most 100 params"),
        ({"params": {"../x": "v"}}, InvalidInput, "invalid"),
        ({"source_run_id": "0" * 32}, NotFound, "run"),
        ({"source_run_id": "not-a-run"}, NotFound, "run"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    db: Database,
    experiment: ExperimentRecord,
    kwargs: dict[str, object],
    error: type[Exception],
    match: str,
) -> None:
    before = model_rows(db)
    with pytest.raises(error, match=match), db.write() as session:
        logged_models.create_logged_model(session, experiment.experiment_id, **kwargs)  # type: ignore[arg-type]
    assert model_rows(db) == before


def test_experiment_and_source_run_must_be_usable(
    db: Database, project: Project, experiment: ExperimentRecord, run_id: str
) -> None:
    with db.write() as session:
        other = projects.create_project(session, "q", description="", by=ADMIN)
        elsewhere = experiments.create_experiment(session, other, "far")
        foreign_run = runs.create_run(session, elsewhere.experiment_id, user="x").info.run_id
    with pytest.raises(NotFound, match=f"run '{foreign_run}' not found"), db.write() as session:
        logged_models.create_logged_model(
            session, experiment.experiment_id, source_run_id=foreign_run
        )
    with pytest.raises(NotFound), db.write() as session:
        logged_models.create_logged_model(session, experiment.experiment_id, project=other)
    with pytest.raises(NotFound), db.write() as session:
        logged_models.create_logged_model(session, "9999")
    with db.write() as session:
        runs.delete_run(session, run_id)
    with pytest.raises(Conflict, match="deleted"), db.write() as session:
        logged_models.create_logged_model(session, experiment.experiment_id, source_run_id=run_id)
    with db.write() as session:
        experiments.delete_experiment(session, experiment.experiment_id)
    with pytest.raises(Conflict, match="deleted"), db.write() as session:
        logged_models.create_logged_model(session, experiment.experiment_id)


def test_finalize_sets_the_status(db: Database, model_id: str) -> None:
    with db.write() as session:
        ready = logged_models.finalize_logged_model(session, model_id, "READY")
    assert ready.status == LoggedModelStatus.READY
    assert ready.last_updated_time >= ready.creation_time
    with db.write() as session:
        failed = logged_models.finalize_logged_model(session, model_id, LoggedModelStatus.FAILED)
    assert failed.status == "FAILED"
    with pytest.raises(InvalidInput, match="unknown"), db.write() as session:
        logged_models.finalize_logged_model(session, model_id, "DONE")
    with db.read() as session:
        assert logged_models.get_logged_model(session, model_id).status == "FAILED"


def test_tags_change_and_go(db: Database, model_id: str) -> None:
    with db.write() as session:
        logged_models.set_logged_model_tags(session, model_id, [("a", "1"), ("a", "2"), ("b", "")])
        logged_models.set_logged_model_tags(session, model_id, {"team": "ops"})
        logged_models.delete_logged_model_tag(session, model_id, "b")
    with db.read() as session:
        assert logged_models.get_logged_model(session, model_id).tags == {"a": "2", "team": "ops"}
    with pytest.raises(NotFound, match="no tag 'b'"), db.write() as session:
        logged_models.delete_logged_model_tag(session, model_id, "b")
    before = model_rows(db)
    with pytest.raises(InvalidInput), db.write() as session:
        logged_models.set_logged_model_tags(session, model_id, [("ok", "1"), ("bad key?", "2")])
    assert model_rows(db) == before


def test_params_are_written_once(db: Database, model_id: str) -> None:
    with db.write() as session:
        logged_models.log_logged_model_params(session, model_id, {"lr": "0.1", "depth": "3"})
    before = model_rows(db)
    with pytest.raises(InvalidInput, match="cannot change"), db.write() as session:
        logged_models.log_logged_model_params(session, model_id, {"new": "1", "lr": "0.2"})
    assert model_rows(db) == before
    with db.read() as session:
        assert logged_models.get_logged_model(session, model_id).params == {
            "depth": "3",
            "lr": "0.1",
        }


def test_a_deleted_model_is_hidden_and_refuses_changes(db: Database, model_id: str) -> None:
    with db.write() as session:
        logged_models.delete_logged_model(session, model_id)
    with db.read() as session:
        with pytest.raises(NotFound, match="not found"):
            logged_models.get_logged_model(session, model_id)
        kept = logged_models.get_logged_model(session, model_id, allow_deleted=True)
    assert kept.lifecycle_stage == "deleted"
    changes: list[Callable[..., object]] = [
        lambda s: logged_models.finalize_logged_model(s, model_id, "READY"),
        lambda s: logged_models.set_logged_model_tags(s, model_id, {"k": "v"}),
        lambda s: logged_models.delete_logged_model_tag(s, model_id, "team"),
        lambda s: logged_models.log_logged_model_params(s, model_id, {"k": "v"}),
        lambda s: logged_models.delete_logged_model(s, model_id),
    ]
    for change in changes:
        with pytest.raises(Conflict, match="deleted"), db.write() as session:
            change(session)


@pytest.mark.parametrize("bad", ["", "m-123", "M-" + "0" * 32, "0" * 32, "m-" + "0" * 32])
def test_unknown_ids_are_not_found(db: Database, bad: str) -> None:
    with db.read() as session:
        with pytest.raises(NotFound, match="logged model"):
            logged_models.get_logged_model(session, bad)
        with pytest.raises(NotFound, match="logged model"):
            logged_models.project_of_logged_model(session, bad)
