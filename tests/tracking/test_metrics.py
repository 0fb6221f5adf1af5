"""Metric histories: ordered, paged by keyset tokens, complete."""

from __future__ import annotations

import math

import pytest

from corridor.errors import InvalidInput, NotFound
from corridor.search import page_tokens
from corridor.store.db import Database
from corridor.tracking import metrics, run_data
from corridor.tracking.entities import MetricPoint


def _log(db: Database, run_id: str, points: list[MetricPoint]) -> None:
    for i in range(0, len(points), 1000):
        with db.write() as session:
            run_data.log_batch(session, run_id, metrics=points[i : i + 1000])


def test_history_pages_cover_every_point_once_in_order(db: Database, run_id: str) -> None:
    points = [MetricPoint("loss", float(i % 7), 1000 + i % 3, i // 3) for i in range(2500)]
    _log(db, run_id, points)
    seen: list[MetricPoint] = []
    token = None
    pages = 0
    while True:
        with db.read() as session:
            page = metrics.get_metric_history(
                session, run_id, "loss", max_results=300, page_token=token
            )
        seen.extend(page.items)
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert pages == 9
    assert sorted(seen, key=lambda p: (p.step, p.timestamp, p.value)) == seen
    assert sorted(seen, key=lambda p: (p.step, p.timestamp, p.value)) == sorted(
        points, key=lambda p: (p.step, p.timestamp, p.value)
    )


def test_an_exact_page_has_no_token(db: Database, run_id: str) -> None:
    _log(db, run_id, [MetricPoint("m", 1.0, i, i) for i in range(10)])
    with db.read() as session:
        page = metrics.get_metric_history(session, run_id, "m", max_results=10)
    assert len(page.items) == 10
    assert page.next_page_token is None


def test_other_keys_and_runs_stay_out(db: Database, run_id: str) -> None:
    _log(db, run_id, [MetricPoint("a", 1.0, 1, 0), MetricPoint("b", 2.0, 1, 0)])
    with db.read() as session:
        assert [p.key for p in metrics.get_metric_history(session, run_id, "a").items] == ["a"]
        assert metrics.get_metric_history(session, run_id, "none").items == []
        with pytest.raises(NotFound):
            metrics.get_metric_history(session, "a" * 32, "a")


def test_bad_paging_arguments_are_refused(db: Database, run_id: str) -> None:
    _log(db, run_id, [MetricPoint("m", 1.0, i, i) for i in range(3)])
    with db.read() as session:
        page = metrics.get_metric_history(session, run_id, "m", max_results=1)
        assert page.next_page_token is not None
        with pytest.raises(InvalidInput, match="different query"):
            metrics.get_metric_history(session, run_id, "other", page_token=page.next_page_token)
        for bad in (0, 1_000_001):
            with pytest.raises(InvalidInput, match="max_results"):
                metrics.get_metric_history(session, run_id, "m", max_results=bad)
        with pytest.raises(InvalidInput, match="malformed"):
            metrics.get_metric_history(session, run_id, "m", page_token="@@@")


@pytest.mark.parametrize(
    "after",
    [["1", 1, 1.0, False], [1, 1, "NaN", False], [1, 1, 1.0, 0], [1, 1, 1.0], {"step": 1}],
)
def test_a_forged_position_is_refused_before_it_reaches_the_database(
    db: Database, run_id: str, after: object
) -> None:
    _log(db, run_id, [MetricPoint("m", 1.0, i, i) for i in range(3)])
    query = page_tokens.query_digest(run_id, "m")
    forged = page_tokens.encode("metric-history", query, {"after": after})
    with pytest.raises(InvalidInput, match="no position"), db.read() as session:
        metrics.get_metric_history(session, run_id, "m", page_token=forged)


def test_nan_points_page_in_order_and_come_back_as_nan(db: Database, run_id: str) -> None:
    # A NaN is stored as 0.0 with a flag: it sorts just after a real 0.0 at the same step.
    points = [MetricPoint("m", v, 5, s) for s in range(3) for v in (float("nan"), 0.0, -1.0)]
    _log(db, run_id, points)
    seen: list[MetricPoint] = []
    token = None
    with db.read() as session:
        while True:
            page = metrics.get_metric_history(session, run_id, "m", max_results=2, page_token=token)
            seen.extend(page.items)
            if (token := page.next_page_token) is None:
                break
    shown = [(p.step, "nan" if math.isnan(p.value) else p.value) for p in seen]
    assert shown == [(s, v) for s in range(3) for v in (-1.0, 0.0, "nan")]
