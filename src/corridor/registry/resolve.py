"""Find the version a ``models:/`` reference names: by number, ``latest``, stage or alias."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.errors import NotFound
from corridor.registry.lookup import model_row, version_row
from corridor.registry.models import ModelAlias, ModelVersion, RegisteredModel
from corridor.registry.source_uris import Source, SourceKind
from corridor.registry.validation import check_alias


def version_by_alias(session: Session, model: RegisteredModel, alias: str) -> ModelVersion:
    check_alias(alias)
    number = session.scalar(
        select(ModelAlias.version).where(
            ModelAlias.registered_model_id == model.id, ModelAlias.alias == alias
        )
    )
    if number is None:
        raise NotFound(f"registered model {model.name!r} has no alias {alias!r}")
    return version_row(session, model, number)


def _newest(session: Session, model: RegisteredModel, stage: str | None) -> ModelVersion:
    query = select(ModelVersion).where(ModelVersion.registered_model_id == model.id)
    if stage is not None:
        query = query.where(ModelVersion.current_stage == stage)
    row = session.scalar(query.order_by(ModelVersion.version.desc()).limit(1))
    if row is None:
        where = f" in stage {stage}" if stage is not None else ""
        raise NotFound(f"registered model {model.name!r} has no version{where}")
    return row


def version_for(session: Session, source: Source, *, project_id: str | None = None) -> ModelVersion:
    """The version a parsed ``models:/<name>/...`` or ``models:/<name>@<alias>`` names."""
    assert source.model_name is not None
    model = model_row(session, source.model_name, project_id=project_id)
    if source.kind is SourceKind.MODEL_ALIAS:
        assert source.alias is not None
        return version_by_alias(session, model, source.alias)
    if source.version is not None:
        return version_row(session, model, source.version)
    return _newest(session, model, source.stage.value if source.stage is not None else None)
