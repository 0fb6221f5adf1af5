"""Turn registry rows into records, loading tags, aliases and latest versions in bulk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corridor.registry.entities import ModelVersionRecord, RegisteredModelRecord
from corridor.registry.models import (
    ModelAlias,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
)
from corridor.security.models import Project

# SQLite caps the bound parameters of one statement; id lists are sent in slices of this.
IN_CHUNK = 500
T = TypeVar("T")


def _chunks(values: Sequence[T]) -> Iterable[Sequence[T]]:
    for i in range(0, len(values), IN_CHUNK):
        yield values[i : i + IN_CHUNK]


def _projects(session: Session, project_ids: Iterable[str]) -> dict[str, tuple[str, bool]]:
    """``(name, allow_pickle)`` of each project id."""
    ids = sorted(set(project_ids))
    found: dict[str, tuple[str, bool]] = {}
    for part in _chunks(ids):
        rows = session.execute(
            select(Project.id, Project.name, Project.allow_pickle).where(Project.id.in_(part))
        )
        found.update((pid, (name, allow)) for pid, name, allow in rows)
    return found


def _aliases(session: Session, model_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for part in _chunks(sorted(set(model_ids))):
        rows = session.execute(
            select(ModelAlias.registered_model_id, ModelAlias.alias, ModelAlias.version)
            .where(ModelAlias.registered_model_id.in_(part))
            .order_by(ModelAlias.alias)
        )
        for model_id, alias, version in rows:
            found[model_id][alias] = version
    return found


def _tags(
    session: Session, column: Any, key_column: Any, ids: Sequence[str]
) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = defaultdict(dict)
    table = column.class_
    for part in _chunks(sorted(set(ids))):
        rows = session.execute(
            select(column, key_column, table.value).where(column.in_(part)).order_by(key_column)
        )
        for owner, key, value in rows:
            found[owner][key] = value
    return found


def version_records(session: Session, rows: Sequence[ModelVersion]) -> list[ModelVersionRecord]:
    """Records of ``rows`` (any models), in the same order."""
    if not rows:
        return []
    model_ids = sorted({r.registered_model_id for r in rows})
    models: dict[str, tuple[str, str]] = {}
    for part in _chunks(model_ids):
        models.update(
            (mid, (name, pid))
            for mid, name, pid in session.execute(
                select(RegisteredModel.id, RegisteredModel.name, RegisteredModel.project_id).where(
                    RegisteredModel.id.in_(part)
                )
            )
        )
    projects = _projects(session, (pid for _, pid in models.values()))
    tags = _tags(
        session, ModelVersionTag.model_version_id, ModelVersionTag.key, [r.id for r in rows]
    )
    aliases = _aliases(session, model_ids)
    by_version: dict[tuple[str, int], list[str]] = defaultdict(list)
    for model_id, named in aliases.items():
        for alias, version in named.items():
            by_version[(model_id, version)].append(alias)
    out = []
    for r in rows:
        name, project_id = models[r.registered_model_id]
        out.append(
            ModelVersionRecord(
                id=r.id,
                name=name,
                project=projects.get(project_id, ("", False))[0],
                version=r.version,
                creation_time=r.creation_time,
                last_updated_time=r.last_updated_time,
                description=r.description,
                user_id=r.user_id,
                current_stage=r.current_stage,
                source=r.source,
                run_id=r.run_id,
                run_link=r.run_link,
                model_id=r.model_id,
                status=r.status,
                status_message=r.status_message,
                storage_location=r.storage_location,
                package_digest=r.package_digest,
                flavour=r.flavour,
                scope=r.scope,
                derived_from=r.derived_from,
                tags=tags.get(r.id, {}),
                aliases=sorted(by_version.get((r.registered_model_id, r.version), [])),
                pickle_allowed=projects.get(project_id, ("", False))[1],
            )
        )
    return out


def version_record(session: Session, row: ModelVersion) -> ModelVersionRecord:
    return version_records(session, [row])[0]


def _latest_versions(session: Session, model_ids: Sequence[str]) -> dict[str, list[ModelVersion]]:
    """The newest version in each stage, per model (MLflow's ``latest_versions``)."""
    found: dict[str, list[ModelVersion]] = defaultdict(list)
    for part in _chunks(sorted(set(model_ids))):
        newest = (
            select(
                ModelVersion.registered_model_id.label("mid"),
                ModelVersion.current_stage.label("stage"),
                func.max(ModelVersion.version).label("top"),
            )
            .where(ModelVersion.registered_model_id.in_(part))
            .group_by(ModelVersion.registered_model_id, ModelVersion.current_stage)
            .subquery()
        )
        rows = session.scalars(
            select(ModelVersion)
            .join(
                newest,
                (ModelVersion.registered_model_id == newest.c.mid)
                & (ModelVersion.version == newest.c.top),
            )
            .order_by(ModelVersion.version)
        )
        for row in rows:
            found[row.registered_model_id].append(row)
    return found


def model_records(session: Session, rows: Sequence[RegisteredModel]) -> list[RegisteredModelRecord]:
    """Records of ``rows``, in the same order, with tags, aliases and latest versions."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    projects = _projects(session, (r.project_id for r in rows))
    tags = _tags(session, RegisteredModelTag.registered_model_id, RegisteredModelTag.key, ids)
    aliases = _aliases(session, ids)
    latest = _latest_versions(session, ids)
    latest_records = {
        r.id: rec
        for r, rec in zip(
            [v for vs in latest.values() for v in vs],
            version_records(session, [v for vs in latest.values() for v in vs]),
            strict=True,
        )
    }
    return [
        RegisteredModelRecord(
            id=r.id,
            name=r.name,
            project=projects.get(r.project_id, ("", False))[0],
            description=r.description,
            creation_time=r.creation_time,
            last_updated_time=r.last_updated_time,
            tags=tags.get(r.id, {}),
            aliases=aliases.get(r.id, {}),
            latest_versions=[latest_records[v.id] for v in latest.get(r.id, [])],
            pickle_allowed=projects.get(r.project_id, ("", False))[1],
        )
        for r in rows
    ]


def model_record(session: Session, row: RegisteredModel) -> RegisteredModelRecord:
    return model_records(session, [row])[0]


def version_labels(session: Session, version_ids: Sequence[str]) -> dict[str, tuple[str, str, int]]:
    """``(project, model name, version number)`` of each version id that exists."""
    labels: dict[str, tuple[str, str, int]] = {}
    for part in _chunks(sorted(set(version_ids))):
        rows = session.execute(
            select(ModelVersion.id, Project.name, RegisteredModel.name, ModelVersion.version)
            .join(RegisteredModel, RegisteredModel.id == ModelVersion.registered_model_id)
            .join(Project, Project.id == RegisteredModel.project_id)
            .where(ModelVersion.id.in_(part))
        )
        for vid, project, name, number in rows:
            labels[vid] = (project, name, number)
    return labels


def version_names(session: Session, version_ids: Sequence[str]) -> dict[str, str]:
    """``model <name> version <number>`` of each version id that exists (lineage's names)."""
    return {
        vid: f"model {name} version {number}"
        for vid, (_project, name, number) in version_labels(session, version_ids).items()
    }
