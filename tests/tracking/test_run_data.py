"""Logging: write-once params, tags, metric points, and batches that write all or nothing."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.store.db import Database
from corridor.tracking import metrics, run_data, runs
from corridor.tracking.entities import MetricPoint
from corridor.tracking.validation import MAX_FLOAT
from tests.tracking.conftest import Counts


def test_a_batch_logs_params_tags_and_metrics(db: Database, run_id: str) -> None:
    with db.write() as session:
        run_data.log_batch(
            session,
            run_id,
            metrics=[MetricPoint("acc", 0.5, 10, 0), MetricPoint("acc", 0.7, 20, 1)],
            params=[("lr", "0.1"), ("depth", "3")],
            tags=[("team", "ml")],
        )
    with db.read() as session:
        record = runs.get_run(session, run_id)
    assert record.params == {"lr": "0.1", "depth": "3"}
    assert record.tags["team"] == "ml"
    assert record.metrics == {"acc": MetricPoint("acc", 0.7, 20, 1)}


def test_params_may_be_logged_again_with_the_same_value_only(
    db: Database, run_id: str, row_counts: Callable[[], Counts]
) -> None:
    with db.write() as session:
        run_data.log_param(session, run_id, "lr", "0.1")
        run_data.log_param(session, run_id, "lr", "0.1")
        run_data.log_batch(session, run_id, params=[("lr", "0.1"), ("lr", "0.1")])
    before = row_counts()
    with pytest.raises(InvalidInput, match=r"'lr' is '0\.1', not '0\.2'"), db.write() as session:
        run_data.log_batch(
            session,
            run_id,
            params=[("new", "x"), ("lr", "0.2")],
            metrics=[MetricPoint("m", 1, 1, 1)],
            tags=[("t", "v")],
        )
    assert row_counts() == before
    with db.read() as session:
        assert runs.get_run(session, run_id).params == {"lr": "0.1"}


def test_tags_can_change_and_be_deleted(db: Database, run_id: str) -> None:
    with db.write() as session:
        run_data.set_tag(session, run_id, "t", "1")
        run_data.set_tag(session, run_id, "t", "2")
        run_data.set_tag(session, run_id, "gone", "x")
        run_data.delete_tag(session, run_id, "gone")
    with db.read() as session:
        tags = runs.get_run(session, run_id).tags
    assert tags["t"] == "2"
    assert "gone" not in tags
    with pytest.raises(NotFound, match="no tag 'gone'"), db.write() as session:
        run_data.delete_tag(session, run_id, "gone")


def test_an_identical_point_sent_twice_is_stored_once(db: Database, run_id: str) -> None:
    points = [MetricPoint("loss", 1.0, 100, 0), MetricPoint("loss", 0.5, 200, 1)]
    for _ in range(3):
        with db.write() as session:
            run_data.log_batch(session, run_id, metrics=points + points)
    with db.write() as session:
        # Same step and time, another value: a different point.
        run_data.log_metric(session, run_id, MetricPoint("loss", 0.4, 200, 1))
    with db.read() as session:
        history = metrics.get_metric_history(session, run_id, "loss").items
    assert history == [
        MetricPoint("loss", 1.0, 100, 0),
        MetricPoint("loss", 0.4, 200, 1),
        MetricPoint("loss", 0.5, 200, 1),
    ]


def test_nan_and_infinities_are_stored_as_mlflow_stores_them(db: Database, run_id: str) -> None:
    with db.write() as session:
        run_data.log_batch(
            session,
            run_id,
            metrics=[
                MetricPoint("nan", float("nan"), 1, 0),
                MetricPoint("nan", 0.0, 1, 0),
                MetricPoint("inf", math.inf, 1, 0),
                MetricPoint("ninf", -math.inf, 1, 0),
            ],
        )
    with db.read() as session:
        record = runs.get_run(session, run_id)
        nans = metrics.get_metric_history(session, run_id, "nan").items
    assert record.metrics["inf"].value == MAX_FLOAT
    assert record.metrics["ninf"].value == -MAX_FLOAT
    assert len(nans) == 2
    assert nans[0].value == 0.0
    assert math.isnan(nans[1].value)


def test_the_latest_point_is_the_highest_step_then_time_then_value(
    db: Database, run_id: str
) -> None:
    batches = [
        [MetricPoint("m", 5.0, 100, 2)],
        [MetricPoint("m", 9.0, 999, 1)],  # an older step, later: not the latest
        [MetricPoint("m", 6.0, 101, 2)],  # same step, later time: latest
        [MetricPoint("m", 1.0, 50, 3), MetricPoint("m", 2.0, 50, 3)],  # same step and time
    ]
    latest = []
    for batch in batches:
        with db.write() as session:
            run_data.log_batch(session, run_id, metrics=batch)
        with db.read() as session:
            latest.append(runs.get_run(session, run_id).metrics["m"])
    assert [(p.value, p.step) for p in latest] == [(5.0, 2), (5.0, 2), (6.0, 2), (2.0, 3)]


Batch = dict[str, Any]
BAD_BATCHES: list[tuple[str, Batch, str]] = [
    ("too many metrics", {"metrics": [MetricPoint("m", 1, i, i) for i in range(1001)]}, "1000"),
    ("too many params", {"params": [(f"p{i}", "v") for i in range(101)]}, "at most 100 params"),
    ("too many tags", {"tags": [(f"t{i}", "v") for i in range(101)]}, "at most 100 tags"),
    (
        # With the good entries below: 951 metrics, 51 params and 1 tag, each within its limit.
        "too many in total",
        {
            "metrics": [MetricPoint("m", 1, i, i) for i in range(950)],
            "params": [(f"p{i}", "v") for i in range(50)],
        },
        "at most 1000 metrics, params and tags in total, this one 1003",
    ),
    ("long metric key", {"metrics": [MetricPoint("k" * 251, 1, 1, 1)]}, "at most 250"),
    ("long param key", {"params": [("k" * 251, "v")]}, "at most 250"),
    ("long tag key", {"tags": [("k" * 251, "v")]}, "at most 250"),
    ("long param value", {"params": [("k", "v" * 6001)]}, "at most 6000"),
    ("long tag value", {"tags": [("k", "v" * 8001)]}, "at most 8000"),
    ("bad metric key", {"metrics": [MetricPoint("../m", 1, 1, 1)]}, "would resolve"),
    ("bad param key", {"params": [("a;b", "v")]}, "is invalid"),
    ("bad tag key", {"tags": [("", "v")]}, "non-empty"),
    ("text value", {"metrics": [MetricPoint("m", "x", 1, 1)]}, "must be a number"),  # type: ignore[arg-type]
    ("negative time", {"metrics": [MetricPoint("m", 1, -5, 1)]}, "milliseconds"),
    ("huge step", {"metrics": [MetricPoint("m", 1, 1, 2**63)]}, "64 bits"),
    ("float step", {"metrics": [MetricPoint("m", 1, 1, 1.5)]}, "integer"),  # type: ignore[arg-type]
    ("param twice", {"params": [("p", "1"), ("p", "2")]}, "given twice"),
    ("bad run name tag", {"tags": [("mlflow.runName", "x" * 251)]}, "run name"),
]


@pytest.mark.parametrize(("_name", "batch", "error"), BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES])
def test_a_bad_batch_is_refused_whole(
    db: Database,
    run_id: str,
    row_counts: Callable[[], Counts],
    _name: str,
    batch: Batch,
    error: str,
) -> None:
    good: Batch = {
        "metrics": [MetricPoint("fine", 1.0, 1, 0)],
        "params": [("fine", "1")],
        "tags": [("fine", "1")],
    }
    mixed = {k: good[k] + list(batch.get(k, [])) for k in good}
    before = row_counts()
    with pytest.raises(InvalidInput, match=error), db.write() as session:
        run_data.log_batch(session, run_id, **mixed)
    assert row_counts() == before


def test_logging_to_a_finished_run_is_allowed_as_in_mlflow(db: Database, run_id: str) -> None:
    with db.write() as session:
        runs.update_run(session, run_id, status="FINISHED")
        run_data.log_metric(session, run_id, MetricPoint("late", 1.0, 1, 0))
    with db.read() as session:
        record = runs.get_run(session, run_id)
    assert record.metrics == {"late": MetricPoint("late", 1.0, 1, 0)}
    assert record.info.status == "FINISHED"


def test_logging_to_a_deleted_or_unknown_run_writes_nothing(
    db: Database, run_id: str, row_counts: Callable[[], Counts]
) -> None:
    with db.write() as session:
        runs.delete_run(session, run_id)
    before = row_counts()
    batch: Batch = {"metrics": [MetricPoint("m", 1, 1, 1)], "params": [("p", "v")]}
    with pytest.raises(Conflict, match="deleted"), db.write() as session:
        run_data.log_batch(session, run_id, **batch)
    with pytest.raises(NotFound), db.write() as session:
        run_data.log_batch(session, "f" * 32, **batch)
    assert row_counts() == before


def test_limits_are_inclusive(db: Database, run_id: str) -> None:
    with db.write() as session:
        run_data.log_batch(
            session, run_id, metrics=[MetricPoint("m", float(i), i, i) for i in range(1000)]
        )
        # 1,000 entities in all, MLflow's cap on a whole batch.
        run_data.log_batch(
            session,
            run_id,
            metrics=[MetricPoint("n", float(i), i, i) for i in range(800)],
            params=[(f"p{i}", "v" * 6000) for i in range(100)],
            tags=[(f"t{i}", "v" * 8000) for i in range(100)],
        )
    with db.read() as session:
        record = runs.get_run(session, run_id)
        assert len(metrics.get_metric_history(session, run_id, "m").items) == 1000
        assert len(metrics.get_metric_history(session, run_id, "n").items) == 800
    assert len(record.params) == 100
    assert len([k for k in record.tags if k.startswith("t")]) == 100
    assert record.metrics["m"].value == 999.0
