"""Reading a metric's time series, a page at a time, straight off the (run, key, step) index."""

from __future__ import annotations

import math

from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.orm import Session

from corridor.client_input import in_int64
from corridor.errors import InvalidInput
from corridor.search import page_tokens
from corridor.tracking.bulk import Prepared
from corridor.tracking.entities import MetricPoint, Page
from corridor.tracking.models import Metric
from corridor.tracking.runs import run_row

DEFAULT_HISTORY_RESULTS = 25_000
MAX_HISTORY_RESULTS = 1_000_000
_KIND = "metric-history"
# One point as stored: step, timestamp, value (0.0 for NaN), is_nan (a bool, or 0/1).
HistoryRow = tuple[int, int, float, bool | int]

_ORDER = (Metric.step, Metric.timestamp, Metric.value, Metric.is_nan)
_FIRST_PAGE = (
    select(*_ORDER)
    .where(Metric.run_id == bindparam("run_id"), Metric.key == bindparam("key"))
    .order_by(*_ORDER)
    .limit(bindparam("limit"))
)
_AFTER = ("after_step", "after_timestamp", "after_value", "after_is_nan")
_NEXT_PAGE = _FIRST_PAGE.where(tuple_(*_ORDER) > tuple_(*(bindparam(name) for name in _AFTER)))
_READ_FIRST = Prepared(lambda _: _FIRST_PAGE, ("run_id", "key", "limit"))
_READ_NEXT = Prepared(lambda _: _NEXT_PAGE, ("run_id", "key", *_AFTER, "limit"))


def _position(page_token: str, query_id: str) -> tuple[int, int, float, bool]:
    after = page_tokens.decode(page_token, _KIND, query_id).get("after")
    if isinstance(after, list) and len(after) == 4:
        step, timestamp, value, is_nan = after
        if (
            all(type(v) is int and in_int64(v) for v in (step, timestamp))
            and type(value) in (int, float)
            and math.isfinite(value)
            and type(is_nan) is bool
        ):
            return step, timestamp, float(value), is_nan
    raise InvalidInput("page_token holds no position in a metric history")


def metric_history_rows(
    session: Session,
    run_id: str,
    key: str,
    *,
    max_results: int | None = None,
    page_token: str | None = None,
) -> Page[HistoryRow]:
    """Every point of metric ``key`` of a run as stored rows, ordered by step, time and value.

    Pages hold ``max_results`` points (default 25,000, at most 1,000,000); a run without the
    metric has an empty history, an unknown run is `NotFound`.
    """
    limit = DEFAULT_HISTORY_RESULTS if max_results is None else max_results
    if not 1 <= limit <= MAX_HISTORY_RESULTS:
        raise InvalidInput(f"max_results must be between 1 and {MAX_HISTORY_RESULTS}")
    run_row(session, run_id)
    query_id = page_tokens.query_digest(run_id, key)
    conn = session.connection()
    if page_token:
        after = _position(page_token, query_id)
        rows = _READ_NEXT.fetchall(conn, (run_id, key, *after, limit + 1))
    else:
        rows = _READ_FIRST.fetchall(conn, (run_id, key, limit + 1))
    token = None
    if len(rows) > limit:
        del rows[limit:]
        step, timestamp, value, is_nan = rows[-1]
        position = [step, timestamp, value, bool(is_nan)]
        token = page_tokens.encode(_KIND, query_id, {"after": position})
    return Page(rows, token)


def get_metric_history(
    session: Session,
    run_id: str,
    key: str,
    *,
    max_results: int | None = None,
    page_token: str | None = None,
) -> Page[MetricPoint]:
    """`metric_history_rows` as `MetricPoint` values (NaN as ``float("nan")`` again)."""
    page = metric_history_rows(session, run_id, key, max_results=max_results, page_token=page_token)
    points = [
        MetricPoint(key, math.nan if is_nan else value, timestamp, step)
        for step, timestamp, value, is_nan in page.items
    ]
    return Page(points, page.next_page_token)
