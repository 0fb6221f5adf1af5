"""Runs: creation, names, the status machine, updates, soft delete and restore."""

from __future__ import annotations

import pytest

from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.security import projects
from corridor.security.models import Project
from corridor.store.db import Database
from corridor.tracking import experiments, run_data, runs
from corridor.tracking.entities import ExperimentRecord
from corridor.tracking.runs import RUN_NAME_TAG
from corridor.tracking.validation import now_ms
from tests.tracking.conftest import ADMIN


def test_a_new_run_is_running_and_shaped_like_mlflows(
    db: Database, experiment: ExperimentRecord
) -> None:
    before = now_ms()
    with db.write() as session:
        made = runs.create_run(
            session, experiment.experiment_id, user="alice", run_name="r1", tags={"k": "v"}
        )
    info = made.info
    assert len(info.run_id) == 32
    assert int(info.run_id, 16) >= 0
    assert info.run_id == info.run_id.lower()
    assert info.experiment_id == experiment.experiment_id
    assert (info.run_name, info.user_id, info.status) == ("r1", "alice", "RUNNING")
    assert before <= info.start_time <= now_ms()
    assert info.end_time is None
    assert info.lifecycle_stage == "active"
    assert (
        info.artifact_uri == f"mlflow-artifacts:/{experiment.experiment_id}/{info.run_id}/artifacts"
    )
    assert made.tags == {"k": "v", RUN_NAME_TAG: "r1"}
    with db.read() as session:
        assert runs.get_run(session, info.run_id) == made
        assert runs.project_of_run(session, info.run_id) == "p"


def test_run_names_come_from_the_argument_the_tag_or_are_generated(
    db: Database, experiment: ExperimentRecord
) -> None:
    eid = experiment.experiment_id
    with db.write() as session:
        tagged = runs.create_run(session, eid, user="u", tags={RUN_NAME_TAG: "from-tag"})
        generated = runs.create_run(session, eid, user="u")
        stamped = runs.create_run(session, eid, user="u", start_time=1234)
        with pytest.raises(InvalidInput, match="differ"):
            runs.create_run(session, eid, user="u", run_name="a", tags={RUN_NAME_TAG: "b"})
    assert tagged.info.run_name == "from-tag"
    assert generated.info.run_name.count("-") == 2
    assert generated.tags[RUN_NAME_TAG] == generated.info.run_name
    assert stamped.info.start_time == 1234


def test_runs_need_an_active_experiment_of_the_project(
    db: Database, project: Project, experiment: ExperimentRecord
) -> None:
    with db.write() as session:
        other = projects.create_project(session, "q", description="", by=ADMIN)
    with pytest.raises(NotFound), db.write() as session:
        runs.create_run(session, "999", user="u")
    with pytest.raises(NotFound), db.write() as session:
        runs.create_run(session, experiment.experiment_id, user="u", project=other)
    with db.write() as session:
        runs.create_run(session, experiment.experiment_id, user="u", project=project)


def test_finishing_stamps_the_end_time_and_resuming_is_allowed(db: Database, run_id: str) -> None:
    with db.write() as session:
        finished = runs.update_run(session, run_id, status="FINISHED")
    assert finished.status == "FINISHED"
    assert finished.end_time is not None
    with db.write() as session:
        resumed = runs.update_run(session, run_id, status="RUNNING", run_name="renamed")
        failed = runs.update_run(session, run_id, status="failed", end_time=99)
    assert resumed.status == "RUNNING"
    assert resumed.run_name == "renamed"
    assert (failed.status, failed.end_time) == ("FAILED", 99)
    with db.read() as session:
        assert runs.get_run(session, run_id).tags[RUN_NAME_TAG] == "renamed"
    with pytest.raises(InvalidInput, match="back to SCHEDULED"), db.write() as session:
        runs.update_run(session, run_id, status="SCHEDULED")
    with pytest.raises(InvalidInput, match="unknown"), db.write() as session:
        runs.update_run(session, run_id, status="DONE")


def test_setting_the_name_tag_renames_the_run(db: Database, run_id: str) -> None:
    with db.write() as session:
        run_data.set_tag(session, run_id, RUN_NAME_TAG, "via-tag")
    with db.read() as session:
        assert runs.get_run_info(session, run_id).run_name == "via-tag"


def test_delete_and_restore(db: Database, run_id: str) -> None:
    with db.write() as session:
        runs.delete_run(session, run_id)
    with db.read() as session:
        assert runs.get_run_info(session, run_id).lifecycle_stage == "deleted"
    for change in (
        lambda s: runs.update_run(s, run_id, status="FINISHED"),
        lambda s: runs.delete_run(s, run_id),
        lambda s: run_data.log_param(s, run_id, "a", "b"),
    ):
        with pytest.raises(Conflict, match="deleted"), db.write() as session:
            change(session)
    with db.write() as session:
        runs.restore_run(session, run_id)
    with db.read() as session:
        assert runs.get_run_info(session, run_id).lifecycle_stage == "active"
    with pytest.raises(Conflict, match="not deleted"), db.write() as session:
        runs.restore_run(session, run_id)


def test_a_run_of_a_deleted_experiment_is_restored_with_it(
    db: Database, experiment: ExperimentRecord, run_id: str
) -> None:
    with db.write() as session:
        experiments.delete_experiment(session, experiment.experiment_id)
    with pytest.raises(Conflict, match="restore that"), db.write() as session:
        runs.restore_run(session, run_id)


@pytest.mark.parametrize("bad", ["0" * 31, "Z" * 32, "../../etc/passwd", "", "0" * 32])
def test_unknown_or_malformed_run_ids_are_not_found(db: Database, bad: str) -> None:
    with db.read() as session:
        with pytest.raises(NotFound):
            runs.get_run(session, bad)
        with pytest.raises(NotFound):
            runs.project_of_run(session, bad)
