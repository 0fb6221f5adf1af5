"""Registered models: create, find, rename, describe, tag and delete them.

Names are one namespace across the server (MLflow finds a model by name alone), and a name
leads back to its project: a model in project ``churn`` is named ``churn/...``; one in
``default`` may be named anything else. Callers that create through a project qualify the name
first (`corridor.security.projects.qualified_name`); MLflow-style callers pick the project with
`corridor.security.projects.resolve_project_for_name`.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from corridor import lineage
from corridor.errors import AlreadyExists, InvalidInput
from corridor.registry.entities import RegisteredModelRecord
from corridor.registry.lookup import model_row
from corridor.registry.models import ModelVersion, RegisteredModel, RegisteredModelTag
from corridor.registry.records import model_record
from corridor.registry.validation import check_description, check_model_name, check_tag, now_ms
from corridor.security.models import Project
from corridor.security.projects import DEFAULT_PROJECT, get_by_id


def _check_name_in(project: Project, name: str) -> str:
    check_model_name(name)
    if project.name != DEFAULT_PROJECT and not name.startswith(f"{project.name}/"):
        raise InvalidInput(
            f"a model in project {project.name!r} is named '{project.name}/...', not {name!r}"
        )
    return name


def _exists(session: Session, name: str) -> bool:
    return (
        session.scalar(select(RegisteredModel.id).where(RegisteredModel.name == name)) is not None
    )


def create_registered_model(
    session: Session,
    project: Project,
    name: str,
    *,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> RegisteredModelRecord:
    """Create an empty registered model named ``name`` (already qualified) in ``project``."""
    _check_name_in(project, name)
    check_description(description)
    checked = [check_tag(k, v) for k, v in (tags or {}).items()]
    if _exists(session, name):
        raise AlreadyExists(f"registered model {name!r} exists already")
    now = now_ms()
    row = RegisteredModel(
        project_id=project.id,
        name=name,
        description=description,
        creation_time=now,
        last_updated_time=now,
        last_version=0,
    )
    try:
        # A savepoint: a racing creator of the same name makes this an AlreadyExists, not a 500.
        with session.begin_nested():
            session.add(row)
            session.flush()
    except sa_exc.IntegrityError:
        raise AlreadyExists(f"registered model {name!r} exists already") from None
    session.add_all(
        RegisteredModelTag(registered_model_id=row.id, key=k, value=v) for k, v in checked
    )
    session.flush()
    return model_record(session, row)


def get_registered_model(
    session: Session, name: str, *, project_id: str | None = None
) -> RegisteredModelRecord:
    """The model ``name`` with its tags, aliases and latest version per stage."""
    return model_record(session, model_row(session, name, project_id=project_id))


def model_project(session: Session, name: str) -> Project:
    """The project model ``name`` lives in (for callers that authorize by model name)."""
    return get_by_id(session, model_row(session, name).project_id)


def rename_registered_model(
    session: Session, name: str, new_name: str, *, project_id: str | None = None
) -> RegisteredModelRecord:
    """Give a model a new name in the same project; its versions and aliases follow it."""
    row = model_row(session, name, project_id=project_id, for_update=True)
    _check_name_in(get_by_id(session, row.project_id), new_name)
    if new_name == name:
        return model_record(session, row)
    if _exists(session, new_name):
        raise AlreadyExists(f"registered model {new_name!r} exists already")
    row.name = new_name
    row.last_updated_time = now_ms()
    session.flush()
    return model_record(session, row)


def update_registered_model(
    session: Session, name: str, *, description: str, project_id: str | None = None
) -> RegisteredModelRecord:
    row = model_row(session, name, project_id=project_id)
    row.description = check_description(description)
    row.last_updated_time = now_ms()
    session.flush()
    return model_record(session, row)


def delete_registered_model(session: Session, name: str, *, project_id: str | None = None) -> None:
    """Delete a model with its versions, tags and aliases (package blobs stay: others may share
    them)."""
    row = model_row(session, name, project_id=project_id, for_update=True)
    for version_id in session.scalars(
        select(ModelVersion.id).where(ModelVersion.registered_model_id == row.id)
    ):
        lineage.remove_node(session, lineage.Node(lineage.NodeKind.MODEL_VERSION, version_id))
    session.delete(row)
    session.flush()


def set_registered_model_tag(
    session: Session, name: str, key: str, value: str, *, project_id: str | None = None
) -> None:
    row = model_row(session, name, project_id=project_id)
    key, value = check_tag(key, value)
    tag = session.get(RegisteredModelTag, (row.id, key))
    if tag is None:
        session.add(RegisteredModelTag(registered_model_id=row.id, key=key, value=value))
    else:
        tag.value = value
    session.flush()


def delete_registered_model_tag(
    session: Session, name: str, key: str, *, project_id: str | None = None
) -> None:
    """Remove a tag; removing one that is not there is not an error (as in MLflow)."""
    row = model_row(session, name, project_id=project_id)
    session.execute(
        delete(RegisteredModelTag).where(
            RegisteredModelTag.registered_model_id == row.id, RegisteredModelTag.key == key
        )
    )
