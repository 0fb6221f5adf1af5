"""Model versions once registered: read, describe, tag and delete them.

Nothing here changes what a version holds; that is fixed when it is registered
(`corridor.registry.registration`).
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from corridor import lineage
from corridor.errors import NotFound
from corridor.registry.entities import ModelVersionRecord
from corridor.registry.lookup import model_row, version_row
from corridor.registry.models import ModelVersion, ModelVersionTag
from corridor.registry.records import version_record
from corridor.registry.validation import check_description, check_tag, now_ms


def get_model_version(
    session: Session, name: str, version: int | str, *, project_id: str | None = None
) -> ModelVersionRecord:
    model = model_row(session, name, project_id=project_id)
    return version_record(session, version_row(session, model, version))


def get_model_version_by_id(session: Session, version_id: str) -> ModelVersionRecord:
    """The version whose id is ``version_id`` (ids, unlike names, never change); `NotFound`."""
    row = session.get(ModelVersion, version_id)
    if row is None:
        raise NotFound(f"model version {version_id!r} not found")
    return version_record(session, row)


def update_model_version(
    session: Session,
    name: str,
    version: int | str,
    *,
    description: str,
    project_id: str | None = None,
) -> ModelVersionRecord:
    """Change a version's description, the one free-text field of an immutable version."""
    model = model_row(session, name, project_id=project_id)
    row = version_row(session, model, version)
    row.description = check_description(description)
    row.last_updated_time = now_ms()
    session.flush()
    return version_record(session, row)


def delete_model_version(
    session: Session, name: str, version: int | str, *, project_id: str | None = None
) -> None:
    """Delete a version, its tags, its aliases and its lineage edges; its number is not reused."""
    model = model_row(session, name, project_id=project_id, for_update=True)
    row = version_row(session, model, version)
    lineage.remove_node(session, lineage.Node(lineage.NodeKind.MODEL_VERSION, row.id))
    session.delete(row)
    model.last_updated_time = now_ms()
    session.flush()


def set_model_version_tag(
    session: Session,
    name: str,
    version: int | str,
    key: str,
    value: str,
    *,
    project_id: str | None = None,
) -> None:
    model = model_row(session, name, project_id=project_id)
    row = version_row(session, model, version)
    key, value = check_tag(key, value)
    tag = session.get(ModelVersionTag, (row.id, key))
    if tag is None:
        session.add(ModelVersionTag(model_version_id=row.id, key=key, value=value))
    else:
        tag.value = value
    session.flush()


def delete_model_version_tag(
    session: Session, name: str, version: int | str, key: str, *, project_id: str | None = None
) -> None:
    """Remove a tag; removing one that is not there is not an error (as in MLflow)."""
    model = model_row(session, name, project_id=project_id)
    row = version_row(session, model, version)
    session.execute(
        delete(ModelVersionTag).where(
            ModelVersionTag.model_version_id == row.id, ModelVersionTag.key == key
        )
    )
