"""Aliases (``production``, ``candidate``...): names for one version each, per model.

An alias moves when set again; deleting a version deletes its aliases (a foreign key does it).
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from corridor.registry.entities import ModelVersionRecord
from corridor.registry.lookup import model_row, version_row
from corridor.registry.models import ModelAlias
from corridor.registry.records import version_record
from corridor.registry.resolve import version_by_alias, version_for
from corridor.registry.source_uris import parse_model_uri
from corridor.registry.validation import check_alias, now_ms


def set_registered_model_alias(
    session: Session, name: str, alias: str, version: int | str, *, project_id: str | None = None
) -> ModelVersionRecord:
    """Point ``alias`` at ``version`` (moving it if it pointed elsewhere)."""
    check_alias(alias)
    model = model_row(session, name, project_id=project_id, for_update=True)
    row = version_row(session, model, version)
    existing = session.get(ModelAlias, (model.id, alias))
    if existing is None:
        session.add(ModelAlias(registered_model_id=model.id, alias=alias, version=row.version))
    else:
        existing.version = row.version
    model.last_updated_time = now_ms()
    session.flush()
    return version_record(session, row)


def delete_registered_model_alias(
    session: Session, name: str, alias: str, *, project_id: str | None = None
) -> None:
    """Remove an alias; removing one that is not there is not an error (as in MLflow)."""
    check_alias(alias)
    model = model_row(session, name, project_id=project_id)
    session.execute(
        delete(ModelAlias).where(
            ModelAlias.registered_model_id == model.id, ModelAlias.alias == alias
        )
    )


def get_model_version_by_alias(
    session: Session, name: str, alias: str, *, project_id: str | None = None
) -> ModelVersionRecord:
    model = model_row(session, name, project_id=project_id)
    return version_record(session, version_by_alias(session, model, alias))


def resolve_model_uri(
    session: Session, uri: str, *, project_id: str | None = None
) -> ModelVersionRecord:
    """The version ``models:/name/3``, ``models:/name/latest``, ``models:/name/Production`` or
    ``models:/name@alias`` names."""
    return version_record(
        session, version_for(session, parse_model_uri(uri), project_id=project_id)
    )
