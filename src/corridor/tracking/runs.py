"""Runs: create, read, update (status, end time, name), soft-delete and restore."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.security.models import Project
from corridor.store import sql
from corridor.tracking.entities import MetricPoint, RunInfo, RunRecord
from corridor.tracking.experiments import parse_experiment_id
from corridor.tracking.models import Experiment, LatestMetric, Run, RunParam, RunTag
from corridor.tracking.validation import (
    LifecycleStage,
    RunStatus,
    check_run_name,
    check_status_change,
    check_tag,
    check_timestamp,
    is_run_id,
    now_ms,
    parse_status,
)

# The tag MLflow keeps the run name in; it and the run's name are kept equal.
RUN_NAME_TAG = "mlflow.runName"
_ADJECTIVES = ("amber", "brisk", "calm", "deft", "eager", "fair", "glad", "keen", "lucid", "merry")
_NOUNS = ("otter", "finch", "lynx", "heron", "stoat", "wren", "ibex", "koala", "marten", "owl")


def generate_run_name() -> str:
    """A readable default name, such as ``keen-heron-417``."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000)}"


def info_of(run: Run) -> RunInfo:
    return RunInfo(
        run_id=run.run_id,
        experiment_id=str(run.experiment_id),
        run_name=run.name,
        user_id=run.user_id,
        status=str(run.status),
        start_time=run.start_time,
        end_time=run.end_time,
        lifecycle_stage=str(run.lifecycle_stage),
        artifact_uri=run.artifact_uri,
    )


def run_row(session: Session, run_id: str) -> Run:
    """The run ``run_id``, deleted or not; `NotFound` if there is none."""
    run = session.get(Run, run_id) if is_run_id(run_id) else None
    if run is None:
        raise NotFound(f"run {run_id!r} not found")
    return run


def active_run_row(session: Session, run_id: str) -> Run:
    """The run ``run_id`` if it may be changed; `Conflict` if it is deleted."""
    run = run_row(session, run_id)
    if run.lifecycle_stage != LifecycleStage.ACTIVE:
        raise Conflict(f"run {run_id} is deleted; restore it before changing it")
    return run


def project_of_run(session: Session, run_id: str) -> str:
    """The name of the project run ``run_id`` lives in (for authorisation)."""
    name = (
        session.scalar(
            select(Project.name)
            .join(Experiment, Experiment.project_id == Project.id)
            .join(Run, Run.experiment_id == Experiment.experiment_id)
            .where(Run.run_id == run_id)
        )
        if is_run_id(run_id)
        else None
    )
    if name is None:
        raise NotFound(f"run {run_id!r} not found")
    return name


def run_projects(ids: Sequence[str]) -> Select[str, str]:
    """``(run id, project id)`` of the runs among ``ids`` (lineage's owner query)."""
    return (
        select(Run.run_id, Experiment.project_id)
        .join(Experiment, Experiment.experiment_id == Run.experiment_id)
        .where(Run.run_id.in_(ids))
    )


def create_run(
    session: Session,
    experiment_id: str | int,
    *,
    user: str,
    run_name: str | None = None,
    start_time: int | None = None,
    tags: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    project: Project | None = None,
) -> RunRecord:
    """Start a run (RUNNING) in an active experiment; with ``project``, only one of its own."""
    exp = session.get(Experiment, parse_experiment_id(experiment_id))
    if exp is None or (project is not None and exp.project_id != project.id):
        raise NotFound(f"experiment {experiment_id!r} not found")
    if exp.lifecycle_stage != LifecycleStage.ACTIVE:
        raise Conflict(f"experiment {exp.name!r} is deleted; runs cannot be created in it")
    items = tags.items() if isinstance(tags, Mapping) else tags
    checked = dict(check_tag(k, v) for k, v in items)
    tagged_name = checked.get(RUN_NAME_TAG)
    if run_name and tagged_name is not None and tagged_name != run_name:
        raise InvalidInput(
            f"run_name {run_name!r} and tag {RUN_NAME_TAG} {tagged_name!r} differ; give one"
        )
    name = check_run_name(run_name or tagged_name or generate_run_name())
    checked[RUN_NAME_TAG] = name
    run_id = uuid.uuid4().hex
    run = Run(
        run_id=run_id,
        experiment_id=exp.experiment_id,
        name=name,
        user_id=user,
        status=RunStatus.RUNNING,
        start_time=now_ms() if start_time is None else check_timestamp("start_time", start_time),
        end_time=None,
        lifecycle_stage=LifecycleStage.ACTIVE,
        deleted_time=None,
        artifact_uri=f"{exp.artifact_location}/{run_id}/artifacts",
    )
    session.add(run)
    session.flush()
    session.add_all(RunTag(run_id=run_id, key=k, value=v) for k, v in checked.items())
    session.flush()
    return RunRecord(info=info_of(run), tags=checked)


def get_run_info(session: Session, run_id: str) -> RunInfo:
    return info_of(run_row(session, run_id))


def get_run(session: Session, run_id: str) -> RunRecord:
    """The run with all its params and tags and the latest point of each metric."""
    return load_records(session, [info_of(run_row(session, run_id))])[0]


def load_records(session: Session, runs: Sequence[RunInfo]) -> list[RunRecord]:
    """Attach params, tags and latest metrics to ``runs``, a few queries for any number."""
    params: dict[str, dict[str, str]] = {r.run_id: {} for r in runs}
    tags: dict[str, dict[str, str]] = {r.run_id: {} for r in runs}
    metrics: dict[str, dict[str, MetricPoint]] = {r.run_id: {} for r in runs}
    for ids in sql.chunks([r.run_id for r in runs]):
        for run_id, key, value in session.execute(
            select(RunParam.run_id, RunParam.key, RunParam.value).where(RunParam.run_id.in_(ids))
        ):
            params[run_id][key] = value
        for run_id, key, value in session.execute(
            select(RunTag.run_id, RunTag.key, RunTag.value).where(RunTag.run_id.in_(ids))
        ):
            tags[run_id][key] = value
        latest = select(
            LatestMetric.run_id,
            LatestMetric.key,
            LatestMetric.value,
            LatestMetric.is_nan,
            LatestMetric.timestamp,
            LatestMetric.step,
        ).where(LatestMetric.run_id.in_(ids))
        for run_id, key, number, is_nan, timestamp, step in session.execute(latest):
            point = MetricPoint(key, float("nan") if is_nan else number, timestamp, step)
            metrics[run_id][key] = point
    return [
        RunRecord(info=r, params=params[r.run_id], tags=tags[r.run_id], metrics=metrics[r.run_id])
        for r in runs
    ]


def update_run(
    session: Session,
    run_id: str,
    *,
    status: RunStatus | str | None = None,
    end_time: int | None = None,
    run_name: str | None = None,
) -> RunInfo:
    """Change an active run's status, end time or name.

    A terminal status without an end time stamps the run ended now (if it had no end time).
    """
    run = active_run_row(session, run_id)
    if status is not None:
        new = parse_status(str(status))
        check_status_change(RunStatus(run.status), new)
        run.status = new
        if new.is_terminal and end_time is None and run.end_time is None:
            run.end_time = now_ms()
    if end_time is not None:
        run.end_time = check_timestamp("end_time", end_time)
    if run_name:
        run.name = check_run_name(run_name)
        sql.upsert(
            session,
            RunTag,
            [{"run_id": run.run_id, "key": RUN_NAME_TAG, "value": run.name}],
            key=("run_id", "key"),
            update=("value",),
        )
    session.flush()
    return info_of(run)


def delete_run(session: Session, run_id: str) -> None:
    """Soft-delete a run: hidden from default searches, refused for logging, restorable."""
    run = active_run_row(session, run_id)
    run.lifecycle_stage = LifecycleStage.DELETED
    run.deleted_time = now_ms()
    session.flush()


def restore_run(session: Session, run_id: str) -> None:
    run = run_row(session, run_id)
    if run.lifecycle_stage != LifecycleStage.DELETED:
        raise Conflict(f"run {run_id} is not deleted")
    exp = session.get(Experiment, run.experiment_id)
    if exp is not None and exp.lifecycle_stage != LifecycleStage.ACTIVE:
        raise Conflict(f"run {run_id} is in the deleted experiment {exp.name!r}; restore that")
    run.lifecycle_stage = LifecycleStage.ACTIVE
    run.deleted_time = None
    session.flush()
