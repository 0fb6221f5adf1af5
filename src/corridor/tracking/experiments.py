"""Experiments: create, find, rename, soft-delete and restore them, and their tags.

Experiment names are unique across the server (MLflow finds experiments by name alone). Which
project an experiment lives in follows from its name: ``"<project>/<rest>"`` lives in that
project if it exists, any other name in the project ``default`` (created on demand). Creating
an experiment through a project qualifies a bare name with the project (``"churn/baseline"``),
except in ``default``, so a name always leads back to its project.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import delete, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from corridor.client_input import INT64_MAX
from corridor.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from corridor.security import projects
from corridor.security.models import Project
from corridor.store import sql
from corridor.tracking.entities import ExperimentRecord
from corridor.tracking.models import Experiment, ExperimentTag, Run
from corridor.tracking.validation import (
    LifecycleStage,
    check_experiment_name,
    check_experiment_tag,
    now_ms,
)

DEFAULT_PROJECT = projects.DEFAULT_PROJECT
qualified_name = projects.qualified_name
DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
# Where an experiment's artifacts are, as MLflow clients see it: the server proxies them.
ARTIFACT_ROOT = "mlflow-artifacts:"


def parse_experiment_id(experiment_id: str | int) -> int:
    """The integer behind an MLflow experiment id such as ``"3"``; `InvalidInput` if none."""
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        number = experiment_id
    elif isinstance(experiment_id, str) and experiment_id.isascii() and experiment_id.isdigit():
        number = int(experiment_id)
    else:
        number = -1
    if 0 <= number <= INT64_MAX:
        return number
    raise InvalidInput(f"experiment id {experiment_id!r} is not a number such as '0' or '12'")


def ensure_default_project(session: Session) -> Project:
    """Return the project ``default``, creating it (with no members) if it is missing."""
    return projects.resolve_project_for_name(session, DEFAULT_EXPERIMENT_NAME)


def resolve_project(session: Session, experiment_name: str) -> Project:
    """The project for an MLflow-style experiment name, creating ``default`` if needed."""
    return projects.resolve_project_for_name(session, experiment_name)


def _record(session: Session, exp: Experiment, project_name: str | None = None) -> ExperimentRecord:
    if project_name is None:
        project_name = session.scalar(select(Project.name).where(Project.id == exp.project_id))
    tags = dict(
        session.execute(
            select(ExperimentTag.key, ExperimentTag.value).where(
                ExperimentTag.experiment_id == exp.experiment_id
            )
        ).all()
    )
    return ExperimentRecord(
        experiment_id=str(exp.experiment_id),
        name=exp.name,
        project=project_name or "",
        artifact_location=exp.artifact_location,
        lifecycle_stage=str(exp.lifecycle_stage),
        creation_time=exp.creation_time,
        last_update_time=exp.last_update_time,
        tags=tags,
    )


def _insert(
    session: Session,
    project: Project,
    name: str,
    tags: Iterable[tuple[str, str]],
    experiment_id: int | None = None,
) -> ExperimentRecord:
    checked = [check_experiment_tag(k, v) for k, v in tags]
    if session.scalar(select(Experiment.experiment_id).where(Experiment.name == name)) is not None:
        raise AlreadyExists(
            f"experiment {name!r} exists already (perhaps deleted: restore it, or choose "
            "another name)"
        )
    now = now_ms()
    exp = Experiment(
        name=name,
        project_id=project.id,
        artifact_location="",
        lifecycle_stage=LifecycleStage.ACTIVE,
        creation_time=now,
        last_update_time=now,
    )
    if experiment_id is not None:
        exp.experiment_id = experiment_id
    try:
        # A savepoint, so that losing a race to a concurrent creator leaves the rest intact.
        with session.begin_nested():
            session.add(exp)
            session.flush()
    except sa_exc.IntegrityError:
        raise AlreadyExists(f"experiment {name!r} exists already") from None
    exp.artifact_location = f"{ARTIFACT_ROOT}/{exp.experiment_id}"
    for key, value in dict(checked).items():
        session.add(ExperimentTag(experiment_id=exp.experiment_id, key=key, value=value))
    session.flush()
    return _record(session, exp, project.name)


def create_experiment(
    session: Session,
    project: Project,
    name: str,
    *,
    tags: Mapping[str, str] | Iterable[tuple[str, str]] = (),
) -> ExperimentRecord:
    """Create an experiment in ``project``; a bare name is qualified with the project's."""
    full = qualified_name(project.name, check_experiment_name(name))
    check_experiment_name(full)
    owner = projects.project_name_for(session, full)
    if owner != project.name:
        raise InvalidInput(
            f"experiment name {full!r} starts with the project {owner!r}: create it there"
        )
    items = tags.items() if isinstance(tags, Mapping) else tags
    return _insert(session, project, full, items)


def create_experiment_by_name(
    session: Session, name: str, *, tags: Mapping[str, str] | Iterable[tuple[str, str]] = ()
) -> ExperimentRecord:
    """Create an experiment from an MLflow-style name, in the project the name resolves to."""
    check_experiment_name(name)
    project = resolve_project(session, name)
    items = tags.items() if isinstance(tags, Mapping) else tags
    return _insert(session, project, name, items)


def ensure_default_experiment(session: Session) -> ExperimentRecord:
    """Return experiment ``"0"`` ("Default", in project ``default``), creating it if missing."""
    exp = session.get(Experiment, DEFAULT_EXPERIMENT_ID)
    if exp is not None:
        return _record(session, exp)
    project = ensure_default_project(session)
    try:
        return _insert(session, project, DEFAULT_EXPERIMENT_NAME, (), DEFAULT_EXPERIMENT_ID)
    except AlreadyExists:
        # Created meanwhile by another transaction.
        return get_experiment(session, DEFAULT_EXPERIMENT_ID)


def get_or_create_experiment(session: Session, project: Project, name: str) -> ExperimentRecord:
    """The active experiment ``name`` of ``project``, created if it does not exist."""
    full = qualified_name(project.name, check_experiment_name(name))
    if full == DEFAULT_EXPERIMENT_NAME and project.name == DEFAULT_PROJECT:
        found = ensure_default_experiment(session)
    else:
        exp = session.scalar(select(Experiment).where(Experiment.name == full))
        if exp is None:
            return create_experiment(session, project, name)
        if exp.project_id != project.id:
            raise NotFound(f"experiment {full!r} not found in project {project.name!r}")
        found = _record(session, exp, project.name)
    if found.lifecycle_stage != LifecycleStage.ACTIVE:
        raise Conflict(f"experiment {full!r} is deleted; restore it before using it")
    return found


def _row(session: Session, experiment_id: str | int, project: Project | None) -> Experiment:
    exp = session.get(Experiment, parse_experiment_id(experiment_id))
    if exp is None or (project is not None and exp.project_id != project.id):
        where = f" in project {project.name!r}" if project is not None else ""
        raise NotFound(f"experiment {experiment_id!r} not found{where}")
    return exp


def _active_row(session: Session, experiment_id: str | int, project: Project | None) -> Experiment:
    exp = _row(session, experiment_id, project)
    if exp.lifecycle_stage != LifecycleStage.ACTIVE:
        raise Conflict(f"experiment {exp.name!r} is deleted; restore it first")
    return exp


def get_experiment(
    session: Session, experiment_id: str | int, *, project: Project | None = None
) -> ExperimentRecord:
    """The experiment with ``experiment_id``; with ``project``, only if it lives there."""
    return _record(session, _row(session, experiment_id, project))


def get_experiment_by_name(session: Session, name: str) -> ExperimentRecord:
    exp = session.scalar(select(Experiment).where(Experiment.name == name))
    if exp is None:
        raise NotFound(f"experiment {name!r} not found")
    return _record(session, exp)


def project_of_experiment(session: Session, experiment_id: str | int) -> str:
    """The name of the project experiment ``experiment_id`` lives in."""
    name = session.scalar(
        select(Project.name)
        .join(Experiment, Experiment.project_id == Project.id)
        .where(Experiment.experiment_id == parse_experiment_id(experiment_id))
    )
    if name is None:
        raise NotFound(f"experiment {experiment_id!r} not found")
    return name


def rename_experiment(
    session: Session, experiment_id: str | int, new_name: str, *, project: Project | None = None
) -> ExperimentRecord:
    """Rename an active experiment; the new name stays in the experiment's project."""
    exp = _active_row(session, experiment_id, project)
    project_name = session.scalar(select(Project.name).where(Project.id == exp.project_id)) or ""
    full = qualified_name(project_name, check_experiment_name(new_name))
    check_experiment_name(full)
    if projects.project_name_for(session, full) != project_name:
        raise InvalidInput(
            f"experiment name {full!r} would move it out of project {project_name!r}"
        )
    if full != exp.name:
        if session.scalar(select(Experiment.experiment_id).where(Experiment.name == full)):
            raise AlreadyExists(f"experiment {full!r} exists already")
        exp.name = full
        exp.last_update_time = now_ms()
    session.flush()
    return _record(session, exp, project_name)


def _set_stage(session: Session, exp: Experiment, stage: LifecycleStage) -> None:
    now = now_ms()
    exp.lifecycle_stage = stage
    exp.last_update_time = now
    # As MLflow does: an experiment's runs are deleted and restored with it.
    session.execute(
        update(Run)
        .where(Run.experiment_id == exp.experiment_id)
        .values(
            lifecycle_stage=stage,
            deleted_time=now if stage is LifecycleStage.DELETED else None,
        )
    )
    session.flush()


def delete_experiment(
    session: Session, experiment_id: str | int, *, project: Project | None = None
) -> None:
    """Soft-delete an experiment and its runs; `restore_experiment` undoes it."""
    exp = _active_row(session, experiment_id, project)
    if exp.experiment_id == DEFAULT_EXPERIMENT_ID:
        raise InvalidInput("the default experiment '0' cannot be deleted")
    _set_stage(session, exp, LifecycleStage.DELETED)


def restore_experiment(
    session: Session, experiment_id: str | int, *, project: Project | None = None
) -> None:
    exp = _row(session, experiment_id, project)
    if exp.lifecycle_stage != LifecycleStage.DELETED:
        raise Conflict(f"experiment {exp.name!r} is not deleted")
    _set_stage(session, exp, LifecycleStage.ACTIVE)


def set_experiment_tag(
    session: Session,
    experiment_id: str | int,
    key: str,
    value: str,
    *,
    project: Project | None = None,
) -> None:
    exp = _active_row(session, experiment_id, project)
    check_experiment_tag(key, value)
    sql.upsert(
        session,
        ExperimentTag,
        [{"experiment_id": exp.experiment_id, "key": key, "value": value}],
        key=("experiment_id", "key"),
        update=("value",),
    )


def delete_experiment_tag(
    session: Session, experiment_id: str | int, key: str, *, project: Project | None = None
) -> None:
    exp = _active_row(session, experiment_id, project)
    deleted = sql.changed_rows(
        session,
        delete(ExperimentTag).where(
            ExperimentTag.experiment_id == exp.experiment_id, ExperimentTag.key == key
        ),
    )
    if deleted == 0:
        raise NotFound(f"experiment {exp.name!r} has no tag {key!r}")
