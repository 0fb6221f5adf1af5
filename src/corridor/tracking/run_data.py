"""Logging to a run: params (write-once), tags, and metric points, in all-or-nothing batches.

Every write here goes through `log_batch_rows`, one transaction that validates everything before
it writes anything, so a refused batch leaves no trace. Rows are written sorted by key, so that
two concurrent batches on PostgreSQL take their row locks in the same order and cannot deadlock.
Metric points travel as plain tuples and are written with prepared statements (`bulk`): a
batch holds up to 1,000 of them, and an object per point would cost more than the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import Table, bindparam, delete, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ClauseElement

from corridor.errors import InvalidInput, NotFound
from corridor.store import sql
from corridor.tracking.bulk import Prepared, insert_for
from corridor.tracking.entities import MetricPoint
from corridor.tracking.models import LatestMetric, Metric, Run, RunParam, RunTag
from corridor.tracking.runs import RUN_NAME_TAG, active_run_row
from corridor.tracking.validation import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
    LifecycleStage,
    check_int64,
    check_key,
    check_param,
    check_run_name,
    check_tag,
    check_timestamp,
    metric_value,
)

# MLflow's cap on a whole batch, besides each kind's own.
MAX_ENTITIES_PER_BATCH = 1000
# A metric point as the MLflow client passes it: key, value, timestamp (epoch ms), step.
MetricRow = tuple[str, float, int, int]
# A point as stored: run id, key, step, timestamp, value (0.0 for NaN), is_nan.
_StoredPoint = tuple[str, str, int, int, float, bool]
_COLUMNS = ("run_id", "key", "step", "timestamp", "value", "is_nan")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_POINTS = cast(Table, Metric.__table__)
_LATEST = cast(Table, LatestMetric.__table__)


def _upsert_latest(dialect: str) -> ClauseElement:
    """Keep each key's newest point: a row replaces the stored one only if it ranks higher."""
    stmt = insert_for(dialect, _LATEST)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={c: new[c] for c in ("step", "timestamp", "value", "is_nan")},
        where=tuple_(new.step, new.timestamp, new.value)
        > tuple_(_LATEST.c.step, _LATEST.c.timestamp, _LATEST.c.value),
    )


_INSERT_POINTS = Prepared(lambda d: insert_for(d, _POINTS).on_conflict_do_nothing(), _COLUMNS)
_UPSERT_LATEST = Prepared(_upsert_latest, _COLUMNS)
_RUN_STAGE = Prepared(
    lambda _: select(Run.lifecycle_stage).where(Run.run_id == bindparam("run_id")), ["run_id"]
)


def _check_limits(metrics: int, params: int, tags: int) -> None:
    for what, count, limit in (
        ("metrics", metrics, MAX_METRICS_PER_BATCH),
        ("params", params, MAX_PARAMS_PER_BATCH),
        ("tags", tags, MAX_TAGS_PER_BATCH),
    ):
        if count > limit:
            raise InvalidInput(
                f"a batch holds at most {limit} {what}, this one {count}: split it into several"
            )
    total = metrics + params + tags
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidInput(
            f"a batch holds at most {MAX_ENTITIES_PER_BATCH} metrics, params and tags in total, "
            f"this one {total}: split it into several"
        )


def _param_map(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for key, value in params:
        check_param(key, value)
        if checked.setdefault(key, value) != value:
            raise InvalidInput(f"param {key!r} is given twice in the batch with different values")
    return checked


def _metric_rows(run_id: str, metrics: Sequence[MetricRow]) -> list[_StoredPoint]:
    """Check every point and return the rows to store, sorted by key, step, time and value."""
    for key in {point[0] for point in metrics}:
        check_key("metric", key)
    rows: list[_StoredPoint] = []
    for key, value, timestamp, step in metrics:
        # The common case (a finite float, in-range integers) is tested inline; anything else
        # goes through the checks that say what is wrong with it.
        if type(value) is float and value - value == 0.0:
            stored, is_nan = value, False
        else:
            stored, is_nan = metric_value(key, value)
        if type(step) is not int or not _INT64_MIN <= step <= _INT64_MAX:
            check_int64(f"step of metric {key!r}", step)
        if type(timestamp) is not int or not 0 <= timestamp <= _INT64_MAX:
            check_timestamp(f"timestamp of metric {key!r}", timestamp)
        rows.append((run_id, key, step, timestamp, stored, is_nan))
    rows.sort()
    return rows


def _latest_rows(rows: list[_StoredPoint]) -> list[_StoredPoint]:
    """The newest point per key: highest step, then timestamp, then value (as MLflow ranks).

    ``rows`` are sorted, so each key's newest point is the first of its last (step, timestamp,
    value); a later row with the same three differs only in being NaN, and does not displace it.
    """
    best: dict[str, _StoredPoint] = {}
    for row in rows:
        held = best.get(row[1])
        if held is None or row[2] != held[2] or row[3] != held[3] or row[4] != held[4]:
            best[row[1]] = row
    return list(best.values())


def _check_active(session: Session, run_id: str) -> None:
    """Refuse a run that is absent or deleted, in the words of `active_run_row`."""
    found = _RUN_STAGE.fetchall(session.connection(), (run_id,))
    if not found or found[0][0] != LifecycleStage.ACTIVE:
        active_run_row(session, run_id)


def _write_params(session: Session, run_id: str, params: dict[str, str]) -> None:
    if not params:
        return
    keys = sorted(params)

    def clashes() -> list[str]:
        stored = session.execute(
            select(RunParam.key, RunParam.value).where(
                RunParam.run_id == run_id, RunParam.key.in_(keys)
            )
        )
        return [f"{k!r} is {v!r}, not {params[k]!r}" for k, v in stored if v != params[k]]

    def refuse(found: list[str]) -> InvalidInput:
        return InvalidInput(
            f"params of run {run_id} cannot change once logged: {'; '.join(found)}. "
            "Log a new run for new values."
        )

    if found := clashes():
        raise refuse(found)
    rows = [{"run_id": run_id, "key": k, "value": params[k]} for k in keys]
    sql.insert_ignore(session, RunParam, rows)
    # A concurrent batch may have logged a different value between the check and the insert.
    if found := clashes():
        raise refuse(found)


def _write_tags(session: Session, run_id: str, tags: dict[str, str]) -> None:
    if not tags:
        return
    if RUN_NAME_TAG in tags:
        active_run_row(session, run_id).name = check_run_name(tags[RUN_NAME_TAG])
    rows = [{"run_id": run_id, "key": k, "value": tags[k]} for k in sorted(tags)]
    sql.upsert(
        session,
        RunTag,
        rows,
        key=("run_id", "key"),
        update=("value",),
    )


def _write_metrics(session: Session, rows: list[_StoredPoint]) -> None:
    if not rows:
        return
    conn = session.connection()
    _INSERT_POINTS.executemany(conn, rows)
    _UPSERT_LATEST.executemany(conn, _latest_rows(rows))


def log_batch_rows(
    session: Session,
    run_id: str,
    *,
    metrics: Sequence[MetricRow] = (),
    params: Iterable[tuple[str, str]] = (),
    tags: Iterable[tuple[str, str]] = (),
) -> None:
    """Log metric points, params and tags to an active run: all of them, or none.

    Limits are MLflow's: 1000 metrics, 100 params, 100 tags, and 1000 of them in total. A param
    logged again with the same value is accepted; with another value the whole batch is refused.
    An identical metric point (same key, step, timestamp and value) is stored once however often
    it is sent.
    """
    param_list, tag_list = list(params), list(tags)
    _check_limits(len(metrics), len(param_list), len(tag_list))
    param_map = _param_map(param_list)
    tag_map = dict(check_tag(k, v) for k, v in tag_list)
    rows = _metric_rows(run_id, metrics)
    # Changes this session holds must reach the database before the statements below read it.
    session.flush()
    _check_active(session, run_id)
    _write_params(session, run_id, param_map)
    _write_metrics(session, rows)
    _write_tags(session, run_id, tag_map)
    session.flush()


def log_batch(
    session: Session,
    run_id: str,
    *,
    metrics: Sequence[MetricPoint] = (),
    params: Iterable[tuple[str, str]] = (),
    tags: Iterable[tuple[str, str]] = (),
) -> None:
    """`log_batch_rows` with the points as `MetricPoint` values."""
    log_batch_rows(
        session,
        run_id,
        metrics=[(p.key, p.value, p.timestamp, p.step) for p in metrics],
        params=params,
        tags=tags,
    )


def log_param(session: Session, run_id: str, key: str, value: str) -> None:
    log_batch(session, run_id, params=[(key, value)])


def log_metric(session: Session, run_id: str, point: MetricPoint) -> None:
    log_batch_rows(session, run_id, metrics=[(point.key, point.value, point.timestamp, point.step)])


def set_tag(session: Session, run_id: str, key: str, value: str) -> None:
    log_batch(session, run_id, tags=[(key, value)])


def delete_tag(session: Session, run_id: str, key: str) -> None:
    """Remove a tag from an active run; `NotFound` if it has no such tag."""
    run = active_run_row(session, run_id)
    deleted = sql.changed_rows(
        session, delete(RunTag).where(RunTag.run_id == run.run_id, RunTag.key == key)
    )
    if deleted == 0:
        raise NotFound(f"run {run_id} has no tag {key!r}")
