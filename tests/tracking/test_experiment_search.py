"""Experiment search: by name, tags and times, within projects, paged."""

from __future__ import annotations

import pytest

from corridor.errors import InvalidInput
from corridor.security import projects
from corridor.security.models import Project
from corridor.store.db import Database
from corridor.tracking import experiment_search, experiments
from tests.tracking.conftest import ADMIN


@pytest.fixture
def seeded(db: Database, project: Project) -> Project:
    with db.write() as session:
        other = projects.create_project(session, "q", description="", by=ADMIN)
        experiments.create_experiment(session, project, "alpha", tags={"team": "ml"})
        experiments.create_experiment(session, project, "beta", tags={"team": "ops"})
        gone = experiments.create_experiment(session, project, "gamma")
        experiments.delete_experiment(session, gone.experiment_id)
        experiments.create_experiment(session, other, "alpha", tags={"team": "ml"})
    return other


def found(db: Database, **kwargs: object) -> list[str]:
    with db.read() as session:
        page = experiment_search.search_experiments(session, **kwargs)  # type: ignore[arg-type]
    return [e.name for e in page.items]


def test_search_by_name_tag_and_project(db: Database, project: Project, seeded: Project) -> None:
    mine = [project.id]
    assert found(db, project_ids=mine) == ["p/beta", "p/alpha"]
    assert found(db, project_ids=mine, filter_string="name = 'p/alpha'") == ["p/alpha"]
    assert found(db, project_ids=mine, filter_string="tags.team = 'ops'") == ["p/beta"]
    assert found(db, filter_string="tags.team = 'ml'", order_by=["name"]) == ["p/alpha", "q/alpha"]
    assert found(db, filter_string="name ILIKE '%ALPHA'", order_by=["name DESC"]) == [
        "q/alpha",
        "p/alpha",
    ]
    assert found(db, project_ids=mine, filter_string="tags.team IS NOT NULL") == [
        "p/beta",
        "p/alpha",
    ]
    assert found(db, project_ids=mine, filter_string="tags.team IS NULL", view_type="ALL") == [
        "p/gamma"
    ]
    assert found(db, project_ids=mine, view_type="DELETED_ONLY") == ["p/gamma"]
    assert len(found(db, project_ids=mine, view_type="ALL")) == 3
    assert found(db, project_ids=[]) == []
    assert found(db, project_ids=mine, order_by=["tags.team DESC"]) == ["p/beta", "p/alpha"]
    assert found(db, project_ids=mine, filter_string="creation_time > 0", order_by=["name"]) == [
        "p/alpha",
        "p/beta",
    ]


def test_pages(db: Database, project: Project, seeded: Project) -> None:
    names: list[str] = []
    token = None
    with db.read() as session:
        while True:
            page = experiment_search.search_experiments(
                session, order_by=["name"], max_results=1, page_token=token
            )
            names += [e.name for e in page.items]
            token = page.next_page_token
            if token is None:
                break
    assert names == ["p/alpha", "p/beta", "q/alpha"]


def test_bad_searches(db: Database) -> None:
    with db.read() as session:
        for kwargs in (
            {"filter_string": "metrics.a > 1"},
            {"filter_string": "status = 'x'"},
            {"order_by": ["colour"]},
            {"max_results": 0},
            {"view_type": "SOME"},
        ):
            with pytest.raises(InvalidInput):
                experiment_search.search_experiments(session, **kwargs)  # type: ignore[arg-type]
