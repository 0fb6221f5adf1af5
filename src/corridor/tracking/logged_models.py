"""MLflow 3's logged models: create, read, finalize, soft-delete, tags and params.

A logged model lives in an experiment (so in that experiment's project), may name the run that
produced it, and holds a tree of files stored as a run's are (`corridor.tracking.artifacts`,
under ``<experiment artifact location>/models/<model_id>/artifacts``). It starts PENDING while
the client uploads its files and is finalized READY (or FAILED). Tags change freely; params,
like a run's, are written once. A deleted model is hidden from reads and refuses changes.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.security.models import Project
from corridor.store import sql
from corridor.tracking.entities import LoggedModelRecord
from corridor.tracking.experiments import parse_experiment_id
from corridor.tracking.models import (
    MAX_LOGGED_MODEL_NAME_LENGTH,
    Experiment,
    LoggedModel,
    LoggedModelParam,
    LoggedModelTag,
)
from corridor.tracking.runs import active_run_row, generate_run_name
from corridor.tracking.validation import (
    MAX_PARAMS_PER_BATCH,
    LifecycleStage,
    check_param,
    check_tag,
    now_ms,
)

_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
# MLflow refuses these in a logged model's name: they would break its URIs and filters.
_NAME_FORBIDDEN = ("/", ":", ".", "%", '"', "'")

KeyValues = Mapping[str, str] | Iterable[tuple[str, str]]


class LoggedModelStatus(StrEnum):
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"


def is_logged_model_id(value: str) -> bool:
    """Whether ``value`` has the shape of a logged model id (``m-`` and 32 hex digits)."""
    return isinstance(value, str) and _MODEL_ID.fullmatch(value) is not None


def parse_model_status(value: str) -> LoggedModelStatus:
    try:
        return LoggedModelStatus(str(value).upper())
    except ValueError:
        allowed = ", ".join(s.value for s in LoggedModelStatus)
        raise InvalidInput(f"logged model status {value!r} is unknown; use {allowed}") from None


def _check_text(what: str, value: str, *, forbidden: Sequence[str] = ()) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string")
    if len(value) > MAX_LOGGED_MODEL_NAME_LENGTH:
        raise InvalidInput(
            f"{what} is {len(value)} characters; at most {MAX_LOGGED_MODEL_NAME_LENGTH}"
        )
    bad = next((c for c in value if unicodedata.category(c).startswith("C")), None)
    if bad is not None:
        raise InvalidInput(f"{what} contains the control character {bad!r}")
    if any(c in value for c in forbidden):
        raise InvalidInput(f"{what} {value!r} may not contain any of {' '.join(forbidden)}")
    return value


def _pairs(items: KeyValues) -> list[tuple[str, str]]:
    return list(items.items() if isinstance(items, Mapping) else items)


def _checked_params(params: KeyValues) -> dict[str, str]:
    pairs = _pairs(params)
    if len(pairs) > MAX_PARAMS_PER_BATCH:
        raise InvalidInput(
            f"a call logs at most {MAX_PARAMS_PER_BATCH} params, this one {len(pairs)}: "
            "split it into several"
        )
    checked: dict[str, str] = {}
    for key, value in pairs:
        check_param(key, value)
        if checked.setdefault(key, value) != value:
            raise InvalidInput(f"param {key!r} is given twice with different values")
    return checked


def model_row(session: Session, model_id: str) -> LoggedModel:
    """The logged model ``model_id``, deleted or not; `NotFound` if there is none."""
    row = session.get(LoggedModel, model_id) if is_logged_model_id(model_id) else None
    if row is None:
        raise NotFound(f"logged model {model_id!r} not found")
    return row


def active_model_row(session: Session, model_id: str) -> LoggedModel:
    """The logged model ``model_id`` if it may be changed; `Conflict` if it is deleted."""
    row = model_row(session, model_id)
    if row.lifecycle_stage != LifecycleStage.ACTIVE:
        raise Conflict(f"logged model {model_id} is deleted; it cannot change")
    return row


def project_of_logged_model(session: Session, model_id: str) -> str:
    """The name of the project logged model ``model_id`` lives in (for authorisation)."""
    name = (
        session.scalar(
            select(Project.name)
            .join(Experiment, Experiment.project_id == Project.id)
            .join(LoggedModel, LoggedModel.experiment_id == Experiment.experiment_id)
            .where(LoggedModel.model_id == model_id)
        )
        if is_logged_model_id(model_id)
        else None
    )
    if name is None:
        raise NotFound(f"logged model {model_id!r} not found")
    return name


def load_models(session: Session, rows: Sequence[LoggedModel]) -> list[LoggedModelRecord]:
    """Records of ``rows`` with their tags and params, two queries per slice of ids."""
    tags: dict[str, dict[str, str]] = {r.model_id: {} for r in rows}
    params: dict[str, dict[str, str]] = {r.model_id: {} for r in rows}
    for ids in sql.chunks([r.model_id for r in rows]):
        for table, into in ((LoggedModelTag, tags), (LoggedModelParam, params)):
            found = session.execute(
                select(table.model_id, table.key, table.value)
                .where(table.model_id.in_(ids))
                .order_by(table.key)
            )
            for model_id, key, value in found:
                into[model_id][key] = value
    return [
        LoggedModelRecord(
            model_id=r.model_id,
            experiment_id=str(r.experiment_id),
            name=r.name,
            source_run_id=r.source_run_id,
            status=r.status,
            model_type=r.model_type,
            artifact_location=r.artifact_location,
            lifecycle_stage=r.lifecycle_stage,
            creation_time=r.creation_time,
            last_updated_time=r.last_updated_time,
            tags=tags[r.model_id],
            params=params[r.model_id],
        )
        for r in rows
    ]


def _source_run(session: Session, run_id: str, experiment: Experiment) -> str:
    """``run_id`` if it is an active run of the model's project (`NotFound` if not)."""
    run = active_run_row(session, run_id)
    run_experiment = session.get(Experiment, run.experiment_id)
    if run_experiment is None or run_experiment.project_id != experiment.project_id:
        # A run of another project is named as absent, whether the caller may read it or not.
        raise NotFound(f"run {run_id!r} not found")
    return run.run_id


def create_logged_model(
    session: Session,
    experiment_id: str | int,
    *,
    name: str | None = None,
    source_run_id: str | None = None,
    model_type: str | None = None,
    params: KeyValues = (),
    tags: KeyValues = (),
    project: Project | None = None,
) -> LoggedModelRecord:
    """Create a PENDING logged model in an active experiment (with ``project``, one of its own).

    A source run must be an active run of the same project. Without a name, one is made up.
    """
    exp = session.get(Experiment, parse_experiment_id(experiment_id))
    if exp is None or (project is not None and exp.project_id != project.id):
        raise NotFound(f"experiment {experiment_id!r} not found")
    if exp.lifecycle_stage != LifecycleStage.ACTIVE:
        raise Conflict(f"experiment {exp.name!r} is deleted; models cannot be logged to it")
    checked_name = _check_text(
        "logged model name", name or generate_run_name(), forbidden=_NAME_FORBIDDEN
    )
    if model_type:
        _check_text("model_type", model_type)
    checked_params = _checked_params(params)
    checked_tags = dict(check_tag(k, v) for k, v in _pairs(tags))
    run_id = _source_run(session, source_run_id, exp) if source_run_id else None
    model_id = f"m-{uuid.uuid4().hex}"
    now = now_ms()
    row = LoggedModel(
        model_id=model_id,
        experiment_id=exp.experiment_id,
        name=checked_name,
        source_run_id=run_id,
        status=LoggedModelStatus.PENDING,
        model_type=model_type or None,
        artifact_location=f"{exp.artifact_location}/models/{model_id}/artifacts",
        lifecycle_stage=LifecycleStage.ACTIVE,
        creation_time=now,
        last_updated_time=now,
    )
    session.add(row)
    session.flush()
    session.add_all(
        LoggedModelParam(model_id=model_id, key=k, value=v) for k, v in checked_params.items()
    )
    session.add_all(
        LoggedModelTag(model_id=model_id, key=k, value=v) for k, v in checked_tags.items()
    )
    session.flush()
    return load_models(session, [row])[0]


def get_logged_model(
    session: Session, model_id: str, *, allow_deleted: bool = False
) -> LoggedModelRecord:
    """The logged model with its tags and params; a deleted one only with ``allow_deleted``."""
    row = model_row(session, model_id)
    if not allow_deleted and row.lifecycle_stage != LifecycleStage.ACTIVE:
        raise NotFound(f"logged model {model_id!r} not found")
    return load_models(session, [row])[0]


def finalize_logged_model(
    session: Session, model_id: str, status: LoggedModelStatus | str
) -> LoggedModelRecord:
    """Set the model's status: READY once its files are uploaded, FAILED if that failed."""
    new = parse_model_status(str(status))
    row = active_model_row(session, model_id)
    row.status = new
    row.last_updated_time = now_ms()
    session.flush()
    return load_models(session, [row])[0]


def delete_logged_model(session: Session, model_id: str) -> None:
    """Soft-delete a logged model: hidden from reads and searches, its files kept."""
    row = active_model_row(session, model_id)
    row.lifecycle_stage = LifecycleStage.DELETED
    row.last_updated_time = now_ms()
    session.flush()


def set_logged_model_tags(session: Session, model_id: str, tags: KeyValues) -> None:
    """Set (or replace) tags; a key given twice keeps its last value."""
    checked = dict(check_tag(k, v) for k, v in _pairs(tags))
    row = active_model_row(session, model_id)
    rows = [{"model_id": model_id, "key": k, "value": checked[k]} for k in sorted(checked)]
    sql.upsert(
        session,
        LoggedModelTag,
        rows,
        key=("model_id", "key"),
        update=("value",),
    )
    row.last_updated_time = now_ms()
    session.flush()


def delete_logged_model_tag(session: Session, model_id: str, key: str) -> None:
    """Remove a tag; `NotFound` if the model has no such tag."""
    row = active_model_row(session, model_id)
    deleted = sql.changed_rows(
        session,
        delete(LoggedModelTag).where(
            LoggedModelTag.model_id == model_id, LoggedModelTag.key == key
        ),
    )
    if deleted == 0:
        raise NotFound(f"logged model {model_id} has no tag {key!r}")
    row.last_updated_time = now_ms()
    session.flush()


def log_logged_model_params(session: Session, model_id: str, params: KeyValues) -> None:
    """Log params, write-once as a run's: the same value again is accepted, another refused
    (and every param of the call with it)."""
    checked = _checked_params(params)
    row = active_model_row(session, model_id)
    if not checked:
        return
    stored = session.execute(
        select(LoggedModelParam.key, LoggedModelParam.value).where(
            LoggedModelParam.model_id == model_id, LoggedModelParam.key.in_(sorted(checked))
        )
    )
    clashes = [f"{k!r} is {v!r}, not {checked[k]!r}" for k, v in stored if v != checked[k]]
    if clashes:
        raise InvalidInput(
            f"params of logged model {model_id} cannot change once logged: {'; '.join(clashes)}"
        )
    rows = [{"model_id": model_id, "key": k, "value": checked[k]} for k in sorted(checked)]
    sql.insert_ignore(session, LoggedModelParam, rows)
    row.last_updated_time = now_ms()
    session.flush()
