"""Logging to a run: params (write-once), tags, and metric points, in all-or-nothing batches.

Every write here goes through `log_batch`, one transaction that validates everything before it
writes anything, so a refused batch leaves no trace. Rows are written sorted by key, so that two
concurrent batches on PostgreSQL take their row locks in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput, NotFound
from corridor.tracking import sql
from corridor.tracking.entities import MetricPoint
from corridor.tracking.models import LatestMetric, Metric, Run, RunParam, RunTag
from corridor.tracking.runs import RUN_NAME_TAG, active_run_row
from corridor.tracking.validation import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
    check_int64,
    check_key,
    check_param,
    check_run_name,
    check_tag,
    check_timestamp,
    metric_value,
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


def _param_map(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for key, value in params:
        check_param(key, value)
        if checked.setdefault(key, value) != value:
            raise InvalidInput(f"param {key!r} is given twice in the batch with different values")
    return checked


def _metric_rows(run_id: str, metrics: Sequence[MetricPoint]) -> list[dict[str, Any]]:
    rows = []
    for key in {point.key for point in metrics}:
        check_key("metric", key)
    for point in metrics:
        value, is_nan = metric_value(point.key, point.value)
        rows.append(
            {
                "run_id": run_id,
                "key": point.key,
                "step": check_int64(f"step of metric {point.key!r}", point.step),
                "timestamp": check_timestamp(f"timestamp of metric {point.key!r}", point.timestamp),
                "value": value,
                "is_nan": is_nan,
            }
        )
    rows.sort(key=lambda r: (r["key"], r["step"], r["timestamp"], r["value"], r["is_nan"]))
    return rows


def _latest_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest point per key: highest step, then timestamp, then value (as MLflow ranks)."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        held = best.get(row["key"])
        if held is None or (row["step"], row["timestamp"], row["value"]) > (
            held["step"],
            held["timestamp"],
            held["value"],
        ):
            best[row["key"]] = row
    return [best[k] for k in sorted(best)]


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
    sql.insert_ignore(session, RunParam.__table__, rows)  # type: ignore[arg-type]
    # A concurrent batch may have logged a different value between the check and the insert.
    if found := clashes():
        raise refuse(found)


def _write_tags(session: Session, run: Run, tags: dict[str, str]) -> None:
    if not tags:
        return
    if RUN_NAME_TAG in tags:
        run.name = check_run_name(tags[RUN_NAME_TAG])
    rows = [{"run_id": run.run_id, "key": k, "value": tags[k]} for k in sorted(tags)]
    sql.upsert(
        session,
        RunTag.__table__,  # type: ignore[arg-type]
        rows,
        key=("run_id", "key"),
        update=("value",),
    )


def _write_metrics(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    sql.insert_ignore(session, Metric.__table__, rows)  # type: ignore[arg-type]
    table = LatestMetric.__table__
    sql.upsert(
        session,
        table,  # type: ignore[arg-type]
        _latest_rows(rows),
        key=("run_id", "key"),
        update=("step", "timestamp", "value", "is_nan"),
        only_if=lambda new: (
            tuple_(new.step, new.timestamp, new.value)
            > tuple_(table.c.step, table.c.timestamp, table.c.value)
        ),
    )


def log_batch(
    session: Session,
    run_id: str,
    *,
    metrics: Sequence[MetricPoint] = (),
    params: Iterable[tuple[str, str]] = (),
    tags: Iterable[tuple[str, str]] = (),
) -> None:
    """Log metric points, params and tags to an active run: all of them, or none.

    Limits are MLflow's: 1000 metrics, 100 params, 100 tags. A param logged again with the same
    value is accepted; with another value the whole batch is refused. An identical metric point
    (same key, step, timestamp and value) is stored once however often it is sent.
    """
    param_list, tag_list = list(params), list(tags)
    _check_limits(len(metrics), len(param_list), len(tag_list))
    param_map = _param_map(param_list)
    tag_map = dict(check_tag(k, v) for k, v in tag_list)
    rows = _metric_rows(run_id, metrics)
    run = active_run_row(session, run_id)
    _write_params(session, run.run_id, param_map)
    _write_metrics(session, rows)
    _write_tags(session, run, tag_map)
    session.flush()


def log_param(session: Session, run_id: str, key: str, value: str) -> None:
    log_batch(session, run_id, params=[(key, value)])


def log_metric(session: Session, run_id: str, point: MetricPoint) -> None:
    log_batch(session, run_id, metrics=[point])


def set_tag(session: Session, run_id: str, key: str, value: str) -> None:
    log_batch(session, run_id, tags=[(key, value)])


def delete_tag(session: Session, run_id: str, key: str) -> None:
    """Remove a tag from an active run; `NotFound` if it has no such tag."""
    run = active_run_row(session, run_id)
    deleted = session.execute(delete(RunTag).where(RunTag.run_id == run.run_id, RunTag.key == key))
    if deleted.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"run {run_id} has no tag {key!r}")
