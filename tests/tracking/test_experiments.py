"""Experiments: names, projects, the default experiment, rename, soft delete and tags."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from corridor.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from corridor.security import projects
from corridor.security.models import Project
from corridor.store.db import Database
from corridor.tracking import experiments, runs
from corridor.tracking.entities import ExperimentRecord
from tests.tracking.conftest import ADMIN, Counts


def test_a_bare_name_is_qualified_with_its_project(db: Database, project: Project) -> None:
    with db.write() as session:
        made = experiments.create_experiment(session, project, "baseline", tags={"team": "ml"})
        again = experiments.create_experiment(session, project, "p/second")
    assert made.name == "p/baseline"
    assert made.project == "p"
    assert made.tags == {"team": "ml"}
    assert made.lifecycle_stage == "active"
    assert made.artifact_location == f"mlflow-artifacts:/{made.experiment_id}"
    assert made.experiment_id.isdigit()
    assert again.name == "p/second"
    assert int(again.experiment_id) > int(made.experiment_id)


def test_names_are_unique_across_the_server(db: Database, project: Project) -> None:
    with db.write() as session:
        experiments.create_experiment(session, project, "baseline")
    with pytest.raises(AlreadyExists, match="'p/baseline' exists already"), db.write() as session:
        experiments.create_experiment(session, project, "p/baseline")
    with pytest.raises(AlreadyExists), db.write() as session:
        experiments.create_experiment_by_name(session, "p/baseline")


def test_mlflow_names_resolve_to_their_project_or_default(db: Database, project: Project) -> None:
    with db.write() as session:
        in_p = experiments.create_experiment_by_name(session, "p/from-mlflow")
        elsewhere = experiments.create_experiment_by_name(session, "nosuch/thing")
        plain = experiments.create_experiment_by_name(session, "plain")
        assert projects.project_name_for(session, "p/x") == "p"
        assert projects.project_name_for(session, "p/") == "default"
        assert projects.project_name_for(session, "p") == "default"
        assert projects.project_name_for(session, "default/x") == "default"
    assert (in_p.project, elsewhere.project, plain.project) == ("p", "default", "default")
    assert elsewhere.name == "nosuch/thing"


def test_the_default_project_is_created_once_and_has_no_members(db: Database) -> None:
    with db.write() as session:
        first = experiments.ensure_default_project(session)
        second = experiments.ensure_default_project(session)
        assert first.id == second.id
        assert projects.list_members(session, first) == []


def test_the_default_experiment_is_zero_and_created_lazily(db: Database, project: Project) -> None:
    with db.write() as session:
        made = experiments.create_experiment(session, project, "first")
        default = experiments.ensure_default_experiment(session)
        again = experiments.ensure_default_experiment(session)
        later = experiments.create_experiment(session, project, "later")
    assert (default.experiment_id, default.name, default.project) == ("0", "Default", "default")
    assert again == default
    assert made.experiment_id != "0"
    assert later.experiment_id not in ("0", made.experiment_id)
    with pytest.raises(InvalidInput, match="cannot be deleted"), db.write() as session:
        experiments.delete_experiment(session, "0")


def test_a_name_of_another_project_cannot_be_created_in_default(
    db: Database, project: Project
) -> None:
    with db.write() as session:
        default = experiments.ensure_default_project(session)
        with pytest.raises(InvalidInput, match="starts with the project 'p'"):
            experiments.create_experiment(session, default, "p/sneaky")


def test_get_or_create_returns_the_existing_experiment(db: Database, project: Project) -> None:
    with db.write() as session:
        made = experiments.get_or_create_experiment(session, project, "x")
        found = experiments.get_or_create_experiment(session, project, "x")
        default = experiments.get_or_create_experiment(
            session, experiments.ensure_default_project(session), "Default"
        )
    assert made == found
    assert default.experiment_id == "0"


def test_lookups(db: Database, project: Project, experiment: ExperimentRecord) -> None:
    with db.write() as session:
        other = projects.create_project(session, "q", description="", by=ADMIN)
    with db.read() as session:
        assert experiments.get_experiment(session, experiment.experiment_id) == experiment
        assert experiments.get_experiment(session, int(experiment.experiment_id)) == experiment
        assert experiments.get_experiment_by_name(session, "p/exp") == experiment
        assert experiments.project_of_experiment(session, experiment.experiment_id) == "p"
        with pytest.raises(NotFound, match="in project 'q'"):
            experiments.get_experiment(session, experiment.experiment_id, project=other)
        with pytest.raises(NotFound):
            experiments.get_experiment(session, "999")
        with pytest.raises(NotFound):
            experiments.get_experiment_by_name(session, "exp")
        with pytest.raises(NotFound):
            experiments.project_of_experiment(session, "999")
        for bad in ("abc", "-1", "1.5", "", "\u0661"):
            with pytest.raises(InvalidInput, match="is not a number"):
                experiments.get_experiment(session, bad)


def test_rename_keeps_the_project_and_refuses_taken_names(
    db: Database, project: Project, experiment: ExperimentRecord
) -> None:
    with db.write() as session:
        experiments.create_experiment(session, project, "taken")
        renamed = experiments.rename_experiment(session, experiment.experiment_id, "better")
    assert renamed.name == "p/better"
    assert renamed.last_update_time >= experiment.last_update_time
    with pytest.raises(AlreadyExists), db.write() as session:
        experiments.rename_experiment(session, experiment.experiment_id, "taken")
    with db.write() as session:
        projects.create_project(session, "q", description="", by=ADMIN)
        default = experiments.ensure_default_project(session)
        loose = experiments.create_experiment(session, default, "loose")
    with pytest.raises(InvalidInput, match="out of project 'default'"), db.write() as session:
        experiments.rename_experiment(session, loose.experiment_id, "q/stolen")


def test_delete_and_restore_take_the_runs_along(
    db: Database, experiment: ExperimentRecord, run_id: str
) -> None:
    eid = experiment.experiment_id
    with db.write() as session:
        experiments.delete_experiment(session, eid)
    with db.read() as session:
        assert experiments.get_experiment(session, eid).lifecycle_stage == "deleted"
        assert runs.get_run_info(session, run_id).lifecycle_stage == "deleted"
    for change in (
        lambda s: experiments.delete_experiment(s, eid),
        lambda s: experiments.rename_experiment(s, eid, "new"),
        lambda s: experiments.set_experiment_tag(s, eid, "k", "v"),
        lambda s: runs.create_run(s, eid, user="u"),
    ):
        with pytest.raises(Conflict, match="deleted"), db.write() as session:
            change(session)
    with pytest.raises(AlreadyExists, match="deleted"), db.write() as session:
        experiments.create_experiment_by_name(session, experiment.name)
    with db.write() as session:
        experiments.restore_experiment(session, eid)
    with db.read() as session:
        assert experiments.get_experiment(session, eid).lifecycle_stage == "active"
        assert runs.get_run_info(session, run_id).lifecycle_stage == "active"
    with pytest.raises(Conflict, match="not deleted"), db.write() as session:
        experiments.restore_experiment(session, eid)


def test_experiment_tags(db: Database, experiment: ExperimentRecord) -> None:
    eid = experiment.experiment_id
    with db.write() as session:
        experiments.set_experiment_tag(session, eid, "k", "v1")
        experiments.set_experiment_tag(session, eid, "k", "v2")
        experiments.set_experiment_tag(session, eid, "other", "x")
        experiments.delete_experiment_tag(session, eid, "other")
    with db.read() as session:
        assert experiments.get_experiment(session, eid).tags == {"k": "v2"}
    with pytest.raises(NotFound, match="no tag 'other'"), db.write() as session:
        experiments.delete_experiment_tag(session, eid, "other")
    with pytest.raises(InvalidInput, match="at most 5000"), db.write() as session:
        experiments.set_experiment_tag(session, eid, "k", "v" * 5001)


@pytest.mark.parametrize(
    ("name", "tags", "error"),
    [
        ("", {}, "must not be empty"),
        ("x" * 499, {}, "at most 500"),
        ("bad\x00", {}, "control character"),
        ("good", {"../k": "v"}, "experiment tag key"),
        ("good", {"k": "v" * 5001}, "at most 5000"),
    ],
)
def test_bad_experiments_are_refused_and_write_nothing(
    db: Database,
    project: Project,
    row_counts: Callable[[], Counts],
    name: str,
    tags: dict[str, str],
    error: str,
) -> None:
    before = row_counts()
    with pytest.raises(InvalidInput, match=error), db.write() as session:
        experiments.create_experiment(session, project, name, tags=tags)
    assert row_counts() == before
