"""Searching runs: an MLflow filter and order, translated into one SQL query.

Each comparison becomes an ``EXISTS`` on the latest-metric, param or tag table (or a plain
condition on the run), so the database does the filtering with its indexes; each metric, param
or tag in ``order_by`` becomes an outer join. Runs without the key never match a comparison
(not even ``!=``) and sort last, as in MLflow. Pages are offsets in an opaque token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, false, or_, select
from sqlalchemy.orm import Session, aliased

from corridor.errors import InvalidInput, NotFound
from corridor.search import page_tokens
from corridor.search.filters import (
    RUNS,
    Comparison,
    Entity,
    Op,
    OrderBy,
    parse_filter,
    parse_order_by,
)
from corridor.search.sql import compare, keyed_condition
from corridor.security.models import Project
from corridor.store.dialects import Dialect, dialect_of
from corridor.tracking.entities import Page, RunInfo, RunRecord
from corridor.tracking.experiments import parse_experiment_id
from corridor.tracking.models import Experiment, LatestMetric, Run, RunParam, RunTag
from corridor.tracking.runs import load_records
from corridor.tracking.validation import ViewType, parse_view_type

DEFAULT_SEARCH_RESULTS = 1000
MAX_SEARCH_RESULTS = 50_000
_KIND = "run-search"
_ATTRIBUTES: dict[str, Any] = {
    "run_id": Run.run_id,
    "run_name": Run.name,
    "status": Run.status,
    "user_id": Run.user_id,
    "artifact_uri": Run.artifact_uri,
    "start_time": Run.start_time,
    "end_time": Run.end_time,
}
_INFO_COLUMNS = (
    Run.run_id,
    Run.experiment_id,
    Run.name,
    Run.user_id,
    Run.status,
    Run.start_time,
    Run.end_time,
    Run.lifecycle_stage,
    Run.artifact_uri,
)


def condition(comparison: Comparison, *, dialect: Dialect) -> ColumnElement[bool]:
    """The SQL condition on ``Run`` for one comparison of a filter."""
    key, op, value = comparison.key, comparison.op, comparison.value
    if key.entity is Entity.ATTRIBUTE:
        return compare(_ATTRIBUTES[key.name], op, value, dialect=dialect)
    if key.entity is Entity.METRIC:
        lm = LatestMetric
        # NaN compares false with everything, except that it differs from everything.
        on_value = (
            or_(lm.is_nan, lm.value != value)
            if op is Op.NE
            else and_(lm.is_nan == false(), compare(lm.value, op, value, dialect=dialect))
        )
        return exists().where(lm.run_id == Run.run_id, lm.key == key.name, on_value)
    table: Any = RunParam if key.entity is Entity.PARAM else RunTag
    owned = table.run_id == Run.run_id
    return keyed_condition(owned, table.key, table.value, key.name, op, value, dialect=dialect)


def _order(query: Any, order: OrderBy) -> tuple[Any, list[Any]]:
    key = order.key

    def direction(column: Any) -> Any:
        return column.asc() if order.ascending else column.desc()

    if key.entity is Entity.ATTRIBUTE:
        column = _ATTRIBUTES[key.name]
        return query, [case((column.is_(None), 1), else_=0), direction(column)]
    if key.entity is Entity.METRIC:
        lm = aliased(LatestMetric)
        query = query.outerjoin(lm, and_(lm.run_id == Run.run_id, lm.key == key.name))
        rank = case((lm.run_id.is_(None), 2), (lm.is_nan, 1), else_=0)
        return query, [rank, direction(lm.value)]
    table: Any = aliased(RunParam if key.entity is Entity.PARAM else RunTag)
    query = query.outerjoin(table, and_(table.run_id == Run.run_id, table.key == key.name))
    return query, [case((table.run_id.is_(None), 1), else_=0), direction(table.value)]


def _experiment_ids(
    session: Session, experiment_ids: Sequence[str | int], project: Project | None
) -> list[int]:
    ids = sorted({parse_experiment_id(e) for e in experiment_ids})
    if project is None:
        return ids
    owned = select(Experiment.experiment_id).where(Experiment.project_id == project.id)
    if not ids:
        return list(session.scalars(owned))
    found = set(session.scalars(owned.where(Experiment.experiment_id.in_(ids))))
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise NotFound(f"experiments {', '.join(missing)} not found in project {project.name!r}")
    return ids


def search_runs(
    session: Session,
    experiment_ids: Sequence[str | int],
    *,
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    max_results: int = DEFAULT_SEARCH_RESULTS,
    page_token: str | None = None,
    view_type: ViewType | str = ViewType.ACTIVE_ONLY,
    project: Project | None = None,
) -> Page[RunRecord]:
    """Runs of ``experiment_ids`` that match ``filter_string``, in ``order_by`` order.

    Without an order, newest first (start time descending, then run id). With ``project``,
    only its experiments are searched, and no ids means all of them.
    """
    if not 1 <= max_results <= MAX_SEARCH_RESULTS:
        raise InvalidInput(f"max_results must be between 1 and {MAX_SEARCH_RESULTS}")
    view = parse_view_type(view_type)
    comparisons = parse_filter(filter_string, RUNS)
    orders = [parse_order_by(text, RUNS) for text in order_by]
    ids = _experiment_ids(session, experiment_ids, project)
    query_id = page_tokens.query_digest(ids, filter_string or "", list(order_by), view)
    offset = page_tokens.offset_of(page_token, _KIND, query_id)
    if not ids:
        return Page([], None)
    dialect = dialect_of(session)
    query: Any = select(*_INFO_COLUMNS).where(
        Run.experiment_id.in_(ids),
        Run.lifecycle_stage.in_(view.stages()),
        *(condition(c, dialect=dialect) for c in comparisons),
    )
    clauses: list[Any] = []
    for order in orders:
        query, more = _order(query, order)
        clauses.extend(more)
    if not any(o.key.entity is Entity.ATTRIBUTE and o.key.name == "start_time" for o in orders):
        clauses.append(Run.start_time.desc())
    clauses.append(Run.run_id.asc())
    rows = session.execute(query.order_by(*clauses).offset(offset).limit(max_results + 1)).all()
    infos = [
        RunInfo(
            run_id=r[0],
            experiment_id=str(r[1]),
            run_name=r[2],
            user_id=r[3],
            status=r[4],
            start_time=r[5],
            end_time=r[6],
            lifecycle_stage=r[7],
            artifact_uri=r[8],
        )
        for r in rows[:max_results]
    ]
    token = None
    if len(rows) > max_results:
        token = page_tokens.encode(_KIND, query_id, {"offset": offset + max_results})
    return Page(load_records(session, infos), token)
