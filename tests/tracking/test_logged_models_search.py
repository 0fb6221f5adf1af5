"""Searching logged models: the filters MLflow clients send, orders, pages; and run outputs."""

from __future__ import annotations

import pytest

from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.security import projects
from corridor.store.db import Database
from corridor.tracking import experiments, logged_models, runs
from corridor.tracking.entities import ExperimentRecord
from corridor.tracking.logged_models_outputs import log_outputs, model_outputs
from corridor.tracking.logged_models_search import search_logged_models
from tests.tracking.conftest import ADMIN
from tests.tracking.test_logged_models import model_rows


@pytest.fixture
def made(db: Database, experiment: ExperimentRecord, run_id: str) -> dict[str, str]:
    """Four models by name: two named ``model`` (one from the run), ``other`` and ``gone``."""
    ids: dict[str, str] = {}
    with db.write() as session:
        specs = [
            ("model", run_id, {"team": "ml"}, {"lr": "0.1"}),
            ("other", None, {"team": "ops"}, {"lr": "0.2"}),
            ("gone", None, {}, {}),
        ]
        for name, run, tags, params in specs:
            ids[name] = logged_models.create_logged_model(
                session,
                experiment.experiment_id,
                name=name,
                source_run_id=run,
                tags=tags,
                params=params,
                model_type="classifier" if name == "model" else None,
            ).model_id
        ids["model-2"] = logged_models.create_logged_model(
            session, experiment.experiment_id, name="model"
        ).model_id
        logged_models.finalize_logged_model(session, ids["model"], "READY")
        logged_models.delete_logged_model(session, ids["gone"])
    return ids


def _names(
    db: Database, experiment: ExperimentRecord, filter_string: str, **kw: object
) -> list[str]:
    with db.read() as session:
        page = search_logged_models(
            session,
            [experiment.experiment_id],
            filter_string=filter_string,
            **kw,  # type: ignore[arg-type]
        )
    return [m.model_id for m in page.items]


def test_filters_the_client_sends(
    db: Database, experiment: ExperimentRecord, run_id: str, made: dict[str, str]
) -> None:
    def found(text: str) -> set[str]:
        return set(_names(db, experiment, text))

    assert found("name = 'model'") == {made["model"], made["model-2"]}
    assert found(f"source_run_id = '{run_id}'") == {made["model"]}
    assert found(f"name = 'model' AND source_run_id = '{run_id}'") == {made["model"]}
    assert found("status = 'READY'") == found("status = 'LOGGED_MODEL_READY'") == {made["model"]}
    assert found("attributes.status IN ('PENDING', 'LOGGED_MODEL_UPLOAD_FAILED')") == {
        made["other"],
        made["model-2"],
    }
    assert found("tags.team = 'ops'") == {made["other"]}
    assert found("params.lr LIKE '0.%' AND model_type = 'classifier'") == {made["model"]}
    assert found("creation_time > 0") == {made["model"], made["model-2"], made["other"]}
    assert found("name = 'gone'") == set()  # deleted models never match


def test_order_and_pages(db: Database, experiment: ExperimentRecord, made: dict[str, str]) -> None:
    order = [("name", True), ("model_id", False)]
    expected = [made["model"], made["model-2"], made["other"]]
    expected[:2] = sorted(expected[:2], reverse=True)
    with db.read() as session:
        first = search_logged_models(
            session, [experiment.experiment_id], order_by=order, max_results=2
        )
        assert first.next_page_token is not None
        rest = search_logged_models(
            session,
            [experiment.experiment_id],
            order_by=order,
            max_results=2,
            page_token=first.next_page_token,
        )
        assert rest.next_page_token is None
        with pytest.raises(InvalidInput, match="different query"):
            search_logged_models(
                session, [experiment.experiment_id], page_token=first.next_page_token
            )
    assert [m.model_id for m in first.items + rest.items] == expected


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"filter_string": "metrics.acc > 0.9"}, "unknown entity"),
        ({"filter_string": "name = 'a' OR name = 'b'"}, "OR is not supported"),
        ({"filter_string": "status = 'DONE'"}, "unknown"),
        ({"filter_string": "lifecycle_stage = 'deleted'"}, "unknown attribute"),
        ({"order_by": [("metrics.acc", True)]}, "unknown entity"),
        ({"order_by": [("tags.team", True)]}, "attributes only"),
        ({"max_results": 0}, "max_results"),
        ({"page_token": "garbage!"}, "page_token"),
    ],
)
def test_bad_searches_are_refused(
    db: Database, experiment: ExperimentRecord, kwargs: dict[str, object], match: str
) -> None:
    with db.read() as session, pytest.raises(InvalidInput, match=match):
        search_logged_models(session, [experiment.experiment_id], **kwargs)  # type: ignore[arg-type]


def test_a_search_needs_experiments(db: Database) -> None:
    with db.read() as session, pytest.raises(InvalidInput, match="experiment_ids"):
        search_logged_models(session, [])


def test_run_outputs_are_recorded_once_and_read_back(
    db: Database, run_id: str, made: dict[str, str]
) -> None:
    with db.write() as session:
        log_outputs(session, run_id, [(made["model"], 3), (made["model"], 3), (made["other"], 0)])
        log_outputs(session, run_id, [(made["model"], 3)])
    with db.read() as session:
        outputs = model_outputs(session, [run_id, "f" * 32])
    assert outputs == {run_id: [(made["other"], 0), (made["model"], 3)], "f" * 32: []}


def test_outputs_must_name_models_of_the_runs_project(
    db: Database, experiment: ExperimentRecord, run_id: str, made: dict[str, str]
) -> None:
    with db.write() as session:
        other = projects.create_project(session, "q", description="", by=ADMIN)
        far = experiments.create_experiment(session, other, "far")
        foreign = logged_models.create_logged_model(session, far.experiment_id).model_id
    before = model_rows(db)
    for models, error in (
        ([(made["model"], 0), (foreign, 0)], NotFound),
        ([(made["model"], 0), ("m-" + "0" * 32, 0)], NotFound),
        ([(made["model"], 2**63)], InvalidInput),
    ):
        with pytest.raises(error), db.write() as session:
            log_outputs(session, run_id, models)
        assert model_rows(db) == before
    with db.write() as session:
        runs.delete_run(session, run_id)
    with pytest.raises(Conflict, match="deleted"), db.write() as session:
        log_outputs(session, run_id, [(made["model"], 0)])
