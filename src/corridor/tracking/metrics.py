"""Reading a metric's time series, a page at a time, straight off the (run, key, step) index."""

from __future__ import annotations

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.tracking import page_tokens
from corridor.tracking.entities import MetricPoint, Page
from corridor.tracking.models import Metric
from corridor.tracking.runs import run_row

DEFAULT_HISTORY_RESULTS = 25_000
MAX_HISTORY_RESULTS = 1_000_000
_KIND = "metric-history"


def get_metric_history(
    session: Session,
    run_id: str,
    key: str,
    *,
    max_results: int | None = None,
    page_token: str | None = None,
) -> Page[MetricPoint]:
    """Every point of metric ``key`` of a run, ordered by step, then timestamp, then value.

    Pages hold ``max_results`` points (default 25,000, at most 1,000,000); a run without the
    metric has an empty history, an unknown run is `NotFound`.
    """
    limit = DEFAULT_HISTORY_RESULTS if max_results is None else max_results
    if not 1 <= limit <= MAX_HISTORY_RESULTS:
        raise InvalidInput(f"max_results must be between 1 and {MAX_HISTORY_RESULTS}")
    run_row(session, run_id)
    query_id = page_tokens.query_digest(run_id, key)
    order = (Metric.step, Metric.timestamp, Metric.value, Metric.is_nan)
    query = (
        select(*order)
        .where(Metric.run_id == run_id, Metric.key == key)
        .order_by(*order)
        .limit(limit + 1)
    )
    if page_token:
        after = page_tokens.decode(page_token, _KIND, query_id).get("after")
        if not isinstance(after, list) or len(after) != 4:
            raise InvalidInput("page_token holds no position in a metric history")
        query = query.where(tuple_(*order) > tuple_(*after))
    rows = session.execute(query).all()
    points = [
        MetricPoint(key, float("nan") if is_nan else value, timestamp, step)
        for step, timestamp, value, is_nan in rows[:limit]
    ]
    token = None
    if len(rows) > limit:
        step, timestamp, value, is_nan = rows[limit - 1]
        token = page_tokens.encode(_KIND, query_id, {"after": [step, timestamp, value, is_nan]})
    return Page(points, token)
