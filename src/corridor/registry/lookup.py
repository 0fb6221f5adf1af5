"""Find registry rows by the names and numbers callers use; absent means `NotFound`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from corridor.errors import NotFound
from corridor.registry.models import ModelVersion, RegisteredModel
from corridor.registry.validation import parse_version


def model_row(
    session: Session, name: str, *, project_id: str | None = None, for_update: bool = False
) -> RegisteredModel:
    """The model named ``name`` (in ``project_id``, if given).

    ``for_update`` locks the row on PostgreSQL (SQLite's write transactions hold the whole
    database already), so that writers of one model's versions queue instead of racing.
    """
    query = select(RegisteredModel).where(RegisteredModel.name == name)
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None or (project_id is not None and row.project_id != project_id):
        raise NotFound(f"registered model {name!r} not found")
    return row


def version_row(
    session: Session, model: RegisteredModel, version: int | str, *, for_update: bool = False
) -> ModelVersion:
    number = parse_version(version)
    query = select(ModelVersion).where(
        ModelVersion.registered_model_id == model.id, ModelVersion.version == number
    )
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"registered model {model.name!r} has no version {number}")
    return row


def version_projects(ids: Sequence[str]) -> Select[str, str]:
    """``(model version id, project id)`` of the versions among ``ids`` (lineage's owner query)."""
    return (
        select(ModelVersion.id, RegisteredModel.project_id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.registered_model_id)
        .where(ModelVersion.id.in_(ids))
    )
