"""Run search: MLflow's filters and orders, evaluated by the database, paged by tokens."""

from __future__ import annotations

import math

import pytest

from corridor.errors import InvalidInput, NotFound
from corridor.security import projects
from corridor.security.models import Project
from corridor.store.db import Database
from corridor.tracking import experiments, run_data, run_search, runs
from corridor.tracking.entities import ExperimentRecord, MetricPoint, RunRecord
from tests.tracking.conftest import ADMIN

# name: (metrics, params, tags, status, start_time)
RUNS = {
    "alpha": ({"acc": 0.95, "loss": 0.1}, {"lr": "0.1"}, {"team": "ml-core"}, "FINISHED", 100),
    "beta": ({"acc": 0.85}, {"lr": "0.01"}, {"team": "ML-ops"}, "FINISHED", 200),
    "gamma": ({"acc": float("nan")}, {"lr": "0.1"}, {"team": "data"}, "FAILED", 300),
    "delta": ({"my key": 3.0}, {"learning rate": "big"}, {}, "RUNNING", 400),
    "eps": ({}, {}, {"team": "50%_off"}, "KILLED", 500),
}


@pytest.fixture
def seeded(db: Database, experiment: ExperimentRecord) -> dict[str, str]:
    """The runs above in one experiment; return run ids by name."""
    ids = {}
    with db.write() as session:
        for name, (m, p, t, status, start) in RUNS.items():
            run = runs.create_run(
                session,
                experiment.experiment_id,
                user=f"{name}-user",
                run_name=name,
                start_time=start,
            )
            run_id = run.info.run_id
            run_data.log_batch(
                session,
                run_id,
                metrics=[MetricPoint(k, v, 1, 0) for k, v in m.items()],
                params=list(p.items()),
                tags=list(t.items()),
            )
            runs.update_run(session, run_id, status=status, end_time=start + 50)
            ids[name] = run_id
    return ids


def names(
    db: Database,
    experiment: ExperimentRecord,
    filter_string: str = "",
    order_by: tuple[str, ...] = (),
    **kwargs: object,
) -> list[str]:
    with db.read() as session:
        page = run_search.search_runs(
            session,
            [experiment.experiment_id],
            filter_string=filter_string,
            order_by=order_by,
            **kwargs,  # type: ignore[arg-type]
        )
    return [r.info.run_name for r in page.items]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("", ["eps", "delta", "gamma", "beta", "alpha"]),
        ("metrics.acc > 0.9", ["alpha"]),
        ("metrics.acc >= 0.85", ["beta", "alpha"]),
        ("metrics.acc < 0.9", ["beta"]),
        ("metrics.acc <= 0.95", ["beta", "alpha"]),
        ("metrics.acc = 0.85", ["beta"]),
        ("metrics.acc != 0.85", ["gamma", "alpha"]),
        ("metrics.`my key` = 3", ["delta"]),
        ("params.lr = '0.1'", ["gamma", "alpha"]),
        ("params.lr != '0.1'", ["beta"]),
        ("params.`learning rate` = 'big'", ["delta"]),
        ("params.lr IN ('0.01', 'x')", ["beta"]),
        ("params.lr NOT IN ('0.01')", ["gamma", "alpha"]),
        ("params.lr LIKE '0.0%'", ["beta"]),
        ("tags.team LIKE '%ml%'", ["alpha"]),
        ("tags.team LIKE '%ML%'", ["beta"]),
        ("tags.team ILIKE '%ml%'", ["beta", "alpha"]),
        ("tags.team LIKE 'ml_core'", ["alpha"]),
        ("tags.team LIKE '50[%]%'", []),
        ("tags.team LIKE '50%'", ["eps"]),
        ("tags.team = 'data'", ["gamma"]),
        ("attributes.status = 'FINISHED'", ["beta", "alpha"]),
        ("attributes.status IN ('FAILED', 'KILLED')", ["eps", "gamma"]),
        ("attributes.status != 'FINISHED'", ["eps", "delta", "gamma"]),
        ("attributes.run_name = 'gamma'", ["gamma"]),
        ("attributes.run_name LIKE '%ta'", ["delta", "beta"]),
        ("attributes.user_id = 'beta-user'", ["beta"]),
        ("attributes.start_time >= 300", ["eps", "delta", "gamma"]),
        ("attributes.start_time < 200", ["alpha"]),
        ("attributes.end_time = 250", ["beta"]),
        ("attributes.created > 400", ["eps"]),
        (
            "metrics.acc > 0.8 and params.lr = '0.1' and tags.team LIKE '%ml%'"
            " and attributes.status = 'FINISHED'",
            ["alpha"],
        ),
        ("metrics.nothing > 0", []),
        ("tags.team IS NULL", ["delta"]),
        ("tags.team IS NOT NULL", ["eps", "gamma", "beta", "alpha"]),
        ("params.lr is null", ["eps", "delta"]),
        ("params.lr IS NOT NULL and tags.team != 'data'", ["beta", "alpha"]),
        ("tags.nobody IS NULL", ["eps", "delta", "gamma", "beta", "alpha"]),
    ],
)
def test_filters(
    db: Database,
    experiment: ExperimentRecord,
    seeded: dict[str, str],
    filter_string: str,
    expected: list[str],
) -> None:
    assert names(db, experiment, filter_string) == expected


def test_run_id_filters(db: Database, experiment: ExperimentRecord, seeded: dict[str, str]) -> None:
    assert names(db, experiment, f"attributes.run_id = '{seeded['beta']}'") == ["beta"]
    both = f"('{seeded['beta']}', '{seeded['eps']}')"
    assert names(db, experiment, f"attributes.run_id IN {both}") == ["eps", "beta"]


def test_a_backslash_in_a_like_pattern_is_literal_on_both_backends(
    db: Database, experiment: ExperimentRecord
) -> None:
    with db.write() as session:
        run = runs.create_run(session, experiment.experiment_id, user="u", run_name="windows")
        run_data.log_batch(session, run.info.run_id, tags=[("dir", "C:\\data\\x")])
    assert names(db, experiment, "tags.dir LIKE 'C:\\data\\%'") == ["windows"]
    assert names(db, experiment, "tags.dir LIKE 'C:%x'") == ["windows"]
    assert names(db, experiment, "tags.dir LIKE 'C:\\%\\y'") == []


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (("metrics.acc DESC",), ["alpha", "beta", "gamma", "eps", "delta"]),
        (("metrics.acc",), ["beta", "alpha", "gamma", "eps", "delta"]),
        (("params.lr DESC",), ["gamma", "alpha", "beta", "eps", "delta"]),
        (("tags.team",), ["eps", "beta", "gamma", "alpha", "delta"]),
        (("attributes.start_time",), ["alpha", "beta", "gamma", "delta", "eps"]),
        (("attributes.run_name DESC",), ["gamma", "eps", "delta", "beta", "alpha"]),
        (
            ("attributes.status", "attributes.start_time"),
            ["gamma", "alpha", "beta", "eps", "delta"],
        ),
    ],
)
def test_orders(
    db: Database,
    experiment: ExperimentRecord,
    seeded: dict[str, str],
    order_by: tuple[str, ...],
    expected: list[str],
) -> None:
    # Runs without the key sort last either way; ties keep newest first.
    assert names(db, experiment, order_by=order_by) == expected


def test_pages_cover_the_result_once(
    db: Database, experiment: ExperimentRecord, seeded: dict[str, str]
) -> None:
    got: list[RunRecord] = []
    token = None
    with db.read() as session:
        while True:
            page = run_search.search_runs(
                session,
                [experiment.experiment_id],
                order_by=["metrics.acc DESC"],
                max_results=2,
                page_token=token,
            )
            got.extend(page.items)
            token = page.next_page_token
            if token is None:
                break
        assert [r.info.run_name for r in got] == ["alpha", "beta", "gamma", "eps", "delta"]
        with pytest.raises(InvalidInput, match="different query"):
            run_search.search_runs(
                session,
                [experiment.experiment_id],
                filter_string="metrics.acc > 0",
                page_token=run_search.search_runs(
                    session, [experiment.experiment_id], max_results=1
                ).next_page_token,
            )


def test_results_carry_their_data(
    db: Database, experiment: ExperimentRecord, seeded: dict[str, str]
) -> None:
    with db.read() as session:
        (gamma,) = run_search.search_runs(
            session, [experiment.experiment_id], filter_string="attributes.run_name = 'gamma'"
        ).items
    assert gamma.params == {"lr": "0.1"}
    assert gamma.tags["team"] == "data"
    assert math.isnan(gamma.metrics["acc"].value)
    assert gamma.info.status == "FAILED"


def test_deleted_runs_show_by_view_type(
    db: Database, experiment: ExperimentRecord, seeded: dict[str, str]
) -> None:
    with db.write() as session:
        runs.delete_run(session, seeded["beta"])
    assert "beta" not in names(db, experiment)
    assert names(db, experiment, view_type="DELETED_ONLY") == ["beta"]
    assert len(names(db, experiment, view_type="ALL")) == 5


def test_project_scoping(
    db: Database, project: Project, experiment: ExperimentRecord, seeded: dict[str, str]
) -> None:
    with db.write() as session:
        other = projects.create_project(session, "q", description="", by=ADMIN)
        foreign = experiments.create_experiment(session, other, "theirs")
        runs.create_run(session, foreign.experiment_id, user="q", run_name="theirs")
        second = experiments.create_experiment(session, project, "second")
        runs.create_run(session, second.experiment_id, user="u", run_name="mine")
    with db.read() as session:
        everything = run_search.search_runs(session, [], project=project)
        assert {r.info.run_name for r in everything.items} == {*RUNS, "mine"}
        with pytest.raises(NotFound, match=f"experiments {foreign.experiment_id} not found"):
            run_search.search_runs(session, [foreign.experiment_id], project=project)
        assert run_search.search_runs(session, []).items == []
        in_both = run_search.search_runs(session, [experiment.experiment_id, second.experiment_id])
        assert len(in_both.items) == 6


def test_bad_searches_are_refused(db: Database, experiment: ExperimentRecord) -> None:
    with db.read() as session:
        for kwargs in (
            {"filter_string": "metrics.acc > 'x'"},
            {"order_by": ["metrics.acc sideways"]},
            {"max_results": 0},
            {"max_results": 50_001},
            {"page_token": "garbage!"},
        ):
            with pytest.raises(InvalidInput):
                run_search.search_runs(session, [experiment.experiment_id], **kwargs)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="view type 'NOPE' is unknown"):
            run_search.search_runs(session, [experiment.experiment_id], view_type="NOPE")


def test_max_results_takes_fifty_thousand(db: Database, experiment: ExperimentRecord) -> None:
    with db.read() as session:
        page = run_search.search_runs(session, [experiment.experiment_id], max_results=50_000)
    assert page.items == []
