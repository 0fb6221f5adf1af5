"""Search registered models and versions with MLflow's filter and order-by language.

Filters and order-by clauses are parsed by the tracking slice's parser (one grammar per
search); this module turns them into SQL. ``LIKE`` is case-sensitive and ``ILIKE`` is not, on
both backends: SQLite's own LIKE ignores case, so there a LIKE becomes a GLOB.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.registry.entities import ModelVersionRecord, Page, RegisteredModelRecord
from corridor.registry.models import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
)
from corridor.registry.records import model_records, version_records
from corridor.search import page_tokens
from corridor.search.filters import (
    Comparison,
    Entity,
    Grammar,
    parse_filter,
    parse_order_by,
)
from corridor.search.sql import compare, keyed_condition
from corridor.store.dialects import Dialect, dialect_of

MAX_MODELS_PER_PAGE = 1000
MAX_VERSIONS_PER_PAGE = 10_000

MODELS = Grammar(
    what="registered model",
    entities=frozenset({Entity.TAG, Entity.ATTRIBUTE}),
    string_attributes=frozenset({"name"}),
    numeric_attributes=frozenset({"creation_timestamp", "last_updated_timestamp"}),
    aliases={"timestamp": "creation_timestamp"},
)
VERSIONS = Grammar(
    what="model version",
    entities=frozenset({Entity.TAG, Entity.ATTRIBUTE}),
    string_attributes=frozenset(
        {"name", "run_id", "source_path", "current_stage", "status", "model_id"}
    ),
    numeric_attributes=frozenset(
        {"version_number", "creation_timestamp", "last_updated_timestamp"}
    ),
    aliases={"timestamp": "creation_timestamp", "source": "source_path"},
)
_MODEL_COLUMNS: dict[str, Any] = {
    "name": RegisteredModel.name,
    "creation_timestamp": RegisteredModel.creation_time,
    "last_updated_timestamp": RegisteredModel.last_updated_time,
}
_VERSION_COLUMNS: dict[str, Any] = {
    "name": RegisteredModel.name,
    "run_id": ModelVersion.run_id,
    "source_path": ModelVersion.source,
    "current_stage": ModelVersion.current_stage,
    "status": ModelVersion.status,
    "model_id": ModelVersion.model_id,
    "version_number": ModelVersion.version,
    "creation_timestamp": ModelVersion.creation_time,
    "last_updated_timestamp": ModelVersion.last_updated_time,
}


def _conditions(
    comparisons: Sequence[Comparison],
    columns: dict[str, Any],
    tag_table: Any,
    tag_owner: Any,
    owner_id: Any,
    dialect: Dialect,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for c in comparisons:
        if c.key.entity is Entity.TAG:
            owned = tag_owner == owner_id
            conditions.append(
                keyed_condition(
                    owned,
                    tag_table.key,
                    tag_table.value,
                    c.key.name,
                    c.op,
                    c.value,
                    dialect=dialect,
                )
            )
        else:
            conditions.append(compare(columns[c.key.name], c.op, c.value, dialect=dialect))
    return conditions


def _order(order_by: Sequence[str], grammar: Grammar, columns: dict[str, Any]) -> list[Any]:
    clauses = []
    for text in order_by:
        clause = parse_order_by(text, grammar)
        if clause.key.entity is not Entity.ATTRIBUTE:
            raise InvalidInput(f"order_by {text!r}: {grammar.what}s are ordered by attributes only")
        column = columns[clause.key.name]
        clauses.append(column.asc() if clause.ascending else column.desc())
    return clauses


def _check_max(max_results: int, limit: int) -> None:
    if not 0 < max_results <= limit:
        raise InvalidInput(f"max_results must be between 1 and {limit}, got {max_results}")


def _page(
    session: Session,
    query: Select[Any],
    kind: str,
    digest: str,
    max_results: int,
    token: str | None,
) -> tuple[list[Any], str | None]:
    offset = page_tokens.offset_of(token, kind, digest)
    rows = list(session.scalars(query.offset(offset).limit(max_results + 1)))
    more = len(rows) > max_results
    next_token = (
        page_tokens.encode(kind, digest, {"offset": offset + max_results}) if more else None
    )
    return rows[:max_results], next_token


def search_registered_models(
    session: Session,
    *,
    project_ids: Collection[str] | None,
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    max_results: int = 100,
    page_token: str | None = None,
) -> Page[RegisteredModelRecord]:
    """Models matching ``filter_string`` in ``project_ids`` (None: every project).

    Default order is by name; ties always break by name, so pages never overlap.
    """
    _check_max(max_results, MAX_MODELS_PER_PAGE)
    dialect = dialect_of(session)
    comparisons = parse_filter(filter_string, MODELS)
    query = select(RegisteredModel).where(
        *_conditions(
            comparisons,
            _MODEL_COLUMNS,
            RegisteredModelTag,
            RegisteredModelTag.registered_model_id,
            RegisteredModel.id,
            dialect,
        )
    )
    if project_ids is not None:
        query = query.where(RegisteredModel.project_id.in_(sorted(project_ids)))
    query = query.order_by(*_order(order_by, MODELS, _MODEL_COLUMNS), RegisteredModel.name)
    digest = page_tokens.query_digest(filter_string or "", list(order_by))
    rows, token = _page(session, query, "registered_models", digest, max_results, page_token)
    return Page(model_records(session, rows), token)


def search_model_versions(
    session: Session,
    *,
    project_ids: Collection[str] | None,
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    max_results: int = 10_000,
    page_token: str | None = None,
) -> Page[ModelVersionRecord]:
    """Versions matching ``filter_string`` in ``project_ids`` (None: every project).

    Default order is by model name, then newest version first.
    """
    _check_max(max_results, MAX_VERSIONS_PER_PAGE)
    dialect = dialect_of(session)
    comparisons = parse_filter(filter_string, VERSIONS)
    query = (
        select(ModelVersion)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.registered_model_id)
        .where(
            *_conditions(
                comparisons,
                _VERSION_COLUMNS,
                ModelVersionTag,
                ModelVersionTag.model_version_id,
                ModelVersion.id,
                dialect,
            )
        )
    )
    if project_ids is not None:
        query = query.where(RegisteredModel.project_id.in_(sorted(project_ids)))
    query = query.order_by(
        *_order(order_by, VERSIONS, _VERSION_COLUMNS),
        RegisteredModel.name,
        ModelVersion.version.desc(),
    )
    digest = page_tokens.query_digest(filter_string or "", list(order_by))
    rows, token = _page(session, query, "model_versions", digest, max_results, page_token)
    return Page(version_records(session, rows), token)
