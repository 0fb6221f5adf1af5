"""Searching experiments by name, tags and times, in one SQL query, a page at a time."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import and_, case, select
from sqlalchemy.orm import Session, aliased

from corridor.errors import InvalidInput
from corridor.search import page_tokens
from corridor.search.filters import (
    EXPERIMENTS,
    Comparison,
    Entity,
    parse_filter,
    parse_order_by,
)
from corridor.search.sql import compare, keyed_condition
from corridor.security.models import Project
from corridor.store.dialects import Dialect, dialect_of
from corridor.store.sql import chunks
from corridor.tracking.entities import ExperimentRecord, Page
from corridor.tracking.models import Experiment, ExperimentTag
from corridor.tracking.validation import ViewType, parse_view_type

DEFAULT_EXPERIMENT_RESULTS = 1000
MAX_EXPERIMENT_RESULTS = 50_000
_KIND = "experiment-search"
_ATTRIBUTES: dict[str, Any] = {
    "name": Experiment.name,
    "creation_time": Experiment.creation_time,
    "last_update_time": Experiment.last_update_time,
    "experiment_id": Experiment.experiment_id,
}


def _condition(comparison: Comparison, *, dialect: Dialect) -> Any:
    key, op, value = comparison.key, comparison.op, comparison.value
    if key.entity is Entity.ATTRIBUTE:
        return compare(_ATTRIBUTES[key.name], op, value, dialect=dialect)
    owned = ExperimentTag.experiment_id == Experiment.experiment_id
    tag = ExperimentTag
    return keyed_condition(owned, tag.key, tag.value, key.name, op, value, dialect=dialect)


def search_experiments(
    session: Session,
    *,
    project_ids: Collection[str] | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    max_results: int = DEFAULT_EXPERIMENT_RESULTS,
    page_token: str | None = None,
    view_type: ViewType | str = ViewType.ACTIVE_ONLY,
) -> Page[ExperimentRecord]:
    """Experiments matching ``filter_string`` (on ``name``, times and ``tags.*``).

    ``project_ids`` limits the search to those projects (None: every project, for callers
    allowed to see them all). Without an order: newest first, then by id.
    """
    if not 1 <= max_results <= MAX_EXPERIMENT_RESULTS:
        raise InvalidInput(f"max_results must be between 1 and {MAX_EXPERIMENT_RESULTS}")
    view = parse_view_type(view_type)
    comparisons = parse_filter(filter_string, EXPERIMENTS)
    orders = [parse_order_by(text, EXPERIMENTS) for text in order_by]
    scope = sorted(project_ids) if project_ids is not None else None
    query_id = page_tokens.query_digest(scope, filter_string or "", list(order_by), view)
    offset = page_tokens.offset_of(page_token, _KIND, query_id)
    dialect = dialect_of(session)
    query = (
        select(Experiment, Project.name)
        .join(Project, Project.id == Experiment.project_id)
        .where(
            Experiment.lifecycle_stage.in_(view.stages()),
            *(_condition(c, dialect=dialect) for c in comparisons),
        )
    )
    if scope is not None:
        query = query.where(Experiment.project_id.in_(scope))
    clauses: list[Any] = []
    for order in orders:
        if order.key.entity is Entity.ATTRIBUTE:
            column: Any = _ATTRIBUTES[order.key.name]
        else:
            tag = aliased(ExperimentTag)
            query = query.outerjoin(
                tag,
                and_(tag.experiment_id == Experiment.experiment_id, tag.key == order.key.name),
            )
            clauses.append(case((tag.experiment_id.is_(None), 1), else_=0))
            column = tag.value
        clauses.append(column.asc() if order.ascending else column.desc())
    clauses += [Experiment.creation_time.desc(), Experiment.experiment_id.asc()]
    rows = session.execute(query.order_by(*clauses).offset(offset).limit(max_results + 1)).all()
    page = rows[:max_results]
    tags: dict[int, dict[str, str]] = {exp.experiment_id: {} for exp, _ in page}
    for ids in chunks(list(tags)):
        for exp_id, key, value in session.execute(
            select(ExperimentTag.experiment_id, ExperimentTag.key, ExperimentTag.value).where(
                ExperimentTag.experiment_id.in_(ids)
            )
        ):
            tags[exp_id][key] = value
    items = [
        ExperimentRecord(
            experiment_id=str(exp.experiment_id),
            name=exp.name,
            project=project_name,
            artifact_location=exp.artifact_location,
            lifecycle_stage=exp.lifecycle_stage,
            creation_time=exp.creation_time,
            last_update_time=exp.last_update_time,
            tags=tags[exp.experiment_id],
        )
        for exp, project_name in page
    ]
    token = None
    if len(rows) > max_results:
        token = page_tokens.encode(_KIND, query_id, {"offset": offset + max_results})
    return Page(items, token)
