"""Searching logged models: MLflow's filter language over a model's attributes, params and tags.

What MLflow 3 clients send: ``name = 'model'`` (to find the model a run logged under a name),
``source_run_id = '...'``, comparisons on ``status``, ``model_type``, ``model_id`` and the
creation and update times, and ``params.<key>`` or ``tags.<key>``, joined by ``AND``. Each
comparison is a condition of one SQL query; deleted models never match. Without an order,
newest first (creation time descending, then model id). Pages are offsets in an opaque token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, exists, select
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.search import page_tokens
from corridor.search.filters import (
    Comparison,
    Entity,
    Grammar,
    parse_filter,
    parse_order_by,
)
from corridor.search.sql import compare
from corridor.store.dialects import Dialect, dialect_of
from corridor.tracking.entities import LoggedModelRecord, Page
from corridor.tracking.experiments import parse_experiment_id
from corridor.tracking.logged_models import LoggedModelStatus, load_models, parse_model_status
from corridor.tracking.models import LoggedModel, LoggedModelParam, LoggedModelTag
from corridor.tracking.validation import LifecycleStage

DEFAULT_SEARCH_RESULTS = 100  # MLflow's default for logged models
MAX_SEARCH_RESULTS = 50_000
_KIND = "logged-model-search"
# MLflow 3 names the statuses of its wire format so; a filter may use either spelling.
_WIRE_STATUS = {f"LOGGED_MODEL_{s.value}": s for s in LoggedModelStatus} | {
    "LOGGED_MODEL_UPLOAD_FAILED": LoggedModelStatus.FAILED
}

LOGGED_MODELS = Grammar(
    what="logged model",
    entities=frozenset({Entity.PARAM, Entity.TAG, Entity.ATTRIBUTE}),
    string_attributes=frozenset({"model_id", "name", "source_run_id", "status", "model_type"}),
    numeric_attributes=frozenset({"creation_timestamp_ms", "last_updated_timestamp_ms"}),
    aliases={
        "creation_time": "creation_timestamp_ms",
        "creation_timestamp": "creation_timestamp_ms",
        "last_updated_timestamp": "last_updated_timestamp_ms",
    },
)
_ATTRIBUTES: dict[str, Any] = {
    "model_id": LoggedModel.model_id,
    "name": LoggedModel.name,
    "source_run_id": LoggedModel.source_run_id,
    "status": LoggedModel.status,
    "model_type": LoggedModel.model_type,
    "creation_timestamp_ms": LoggedModel.creation_time,
    "last_updated_timestamp_ms": LoggedModel.last_updated_time,
}


def _status(value: str) -> str:
    return _WIRE_STATUS.get(value.upper()) or parse_model_status(value)


def condition(comparison: Comparison, *, dialect: Dialect) -> Any:
    """The SQL condition on `LoggedModel` for one comparison of a filter."""
    key, op, value = comparison.key, comparison.op, comparison.value
    if key.entity is Entity.ATTRIBUTE:
        if key.name == "status" and isinstance(value, str):
            value = _status(value)
        elif key.name == "status" and isinstance(value, tuple):
            value = tuple(_status(v) for v in value)
        return compare(_ATTRIBUTES[key.name], op, value, dialect=dialect)
    table: Any = LoggedModelParam if key.entity is Entity.PARAM else LoggedModelTag
    return exists().where(
        table.model_id == LoggedModel.model_id,
        table.key == key.name,
        compare(table.value, op, value, dialect=dialect),
    )


def _order_clauses(order_by: Sequence[tuple[str, bool]]) -> list[Any]:
    clauses: list[Any] = []
    named: set[str] = set()
    for field_name, ascending in order_by:
        key = parse_order_by(field_name, LOGGED_MODELS).key
        if key.entity is not Entity.ATTRIBUTE:
            raise InvalidInput(
                f"logged models are ordered by attributes only, not by {field_name!r}"
            )
        named.add(key.name)
        column = _ATTRIBUTES[key.name]
        clauses += [
            case((column.is_(None), 1), else_=0),
            column.asc() if ascending else column.desc(),
        ]
    if "creation_timestamp_ms" not in named:
        clauses.append(LoggedModel.creation_time.desc())
    if "model_id" not in named:
        clauses.append(LoggedModel.model_id.asc())
    return clauses


def search_logged_models(
    session: Session,
    experiment_ids: Sequence[str | int],
    *,
    filter_string: str | None = None,
    order_by: Sequence[tuple[str, bool]] = (),
    max_results: int = DEFAULT_SEARCH_RESULTS,
    page_token: str | None = None,
) -> Page[LoggedModelRecord]:
    """Active logged models of ``experiment_ids`` matching ``filter_string``.

    ``order_by`` holds ``(field, ascending)`` pairs such as ``("creation_time", False)``.
    """
    if not experiment_ids:
        raise InvalidInput("Missing value for required parameter 'experiment_ids'")
    if not 1 <= max_results <= MAX_SEARCH_RESULTS:
        raise InvalidInput(f"max_results must be between 1 and {MAX_SEARCH_RESULTS}")
    ids = sorted({parse_experiment_id(e) for e in experiment_ids})
    comparisons = parse_filter(filter_string, LOGGED_MODELS)
    clauses = _order_clauses(order_by)
    query_id = page_tokens.query_digest(ids, filter_string or "", [list(o) for o in order_by])
    offset = page_tokens.offset_of(page_token, _KIND, query_id)
    dialect = dialect_of(session)
    query = select(LoggedModel).where(
        LoggedModel.experiment_id.in_(ids),
        LoggedModel.lifecycle_stage == LifecycleStage.ACTIVE,
        *(condition(c, dialect=dialect) for c in comparisons),
    )
    rows = list(session.scalars(query.order_by(*clauses).offset(offset).limit(max_results + 1)))
    token = None
    if len(rows) > max_results:
        token = page_tokens.encode(_KIND, query_id, {"offset": offset + max_results})
    return Page(load_models(session, rows[:max_results]), token)
