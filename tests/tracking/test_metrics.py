"""Metric histories: ordered, paged by keyset tokens, complete."""

from __future__ import annotations

import pytest

from corridor.errors import InvalidInput, NotFound
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
