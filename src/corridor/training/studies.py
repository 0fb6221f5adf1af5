"""The hyperparameter search's services: studies and trials of one project, in one session.

Every function takes an open session (``Database.write()``, or a route's ``WriteSession``, for
changes) and a project; a study or trial of another project is reported as absent.

Concurrency: each change of a trial first bumps its study's row (``UPDATE ... RETURNING``),
which locks that row on PostgreSQL until commit (SQLite's writer is one at a time anyway). So
the writes of one study are serialized: two processes creating trials get distinct numbers
(taken from ``trial_count`` under the lock), a parameter's distribution is checked against the
study's under the lock, and versions commit in increasing order. A reader that asks for the
trials changed after version ``v`` reads the study's version *before* the trials, so a trial
committed at or below the version it returns is always among those it sees.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from corridor.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from corridor.security.models import Project
from corridor.store.base import utcnow
from corridor.training.models import Study, Trial
from corridor.training.schemas import (
    FINISHED_STATES,
    ParamIn,
    StudyOut,
    TrialCreate,
    TrialList,
    TrialOut,
    TrialUpdate,
    TrialUpdateOut,
    WireFloat,
)


def _dumps(value: object) -> str:
    # Python's JSON, which spells NaN and Infinity: Optuna's attributes may hold them.
    return json.dumps(value, separators=(",", ":"))


def _attr_value(key: str, text: str) -> object:
    """The value an attribute's JSON text holds; InvalidInput if it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidInput(f"attribute {key!r}: the value is not JSON text") from None


def _attrs_out(column: str) -> dict[str, str]:
    return {k: _dumps(v) for k, v in json.loads(column).items()}


def _study_out(study: Study, project: Project, n_trials: int) -> StudyOut:
    return StudyOut(
        id=study.id,
        name=study.name,
        project=project.name,
        directions=json.loads(study.directions),
        user_attrs=_attrs_out(study.user_attrs),
        system_attrs=_attrs_out(study.system_attrs),
        n_trials=n_trials,
        version=study.version,
        created_at=study.created_at,
    )


def trial_out(trial: Trial) -> TrialOut:
    return TrialOut(
        id=trial.id,
        study_id=trial.study_id,
        number=trial.number,
        state=trial.state,
        values=None if trial.values_json is None else json.loads(trial.values_json),
        params=[
            ParamIn(name=n, value=v, distribution=d) for n, v, d in json.loads(trial.params_json)
        ],
        intermediate=[(s, v) for s, v in json.loads(trial.intermediate_json)],
        user_attrs=_attrs_out(trial.user_attrs),
        system_attrs=_attrs_out(trial.system_attrs),
        datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete,
        version=trial.version,
    )


def _load_study(session: Session, project: Project, study_id: int) -> Study:
    study = session.scalars(
        select(Study)
        .where(Study.id == study_id, Study.project_id == project.id)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if study is None:
        raise NotFound(f"no study {study_id} in project {project.name!r}")
    return study


def _bump(session: Session, project: Project, study_id: int, *, new_trial: bool = False) -> int:
    """Lock the study's row and give it its next version (and, for a new trial, its next trial
    number); return the version. NotFound if the study is not in the project."""
    values: dict[str, Any] = {"version": Study.version + 1}
    if new_trial:
        values["trial_count"] = Study.trial_count + 1
    row = session.execute(
        update(Study)
        .where(Study.id == study_id, Study.project_id == project.id)
        .values(**values)
        .returning(Study.version)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        raise NotFound(f"no study {study_id} in project {project.name!r}")
    return int(row[0])


# Studies.
def create_study(session: Session, project: Project, name: str, directions: list[str]) -> StudyOut:
    taken = session.scalar(
        select(Study.id).where(Study.project_id == project.id, Study.name == name)
    )
    if taken is not None:
        raise AlreadyExists(f"project {project.name!r} already has a study {name!r}")
    study = Study(project_id=project.id, name=name, directions=_dumps(directions))
    session.add(study)
    session.flush()
    return _study_out(study, project, 0)


def list_studies(session: Session, project: Project, *, name: str | None = None) -> list[StudyOut]:
    """The project's studies, oldest first (only the one called ``name``, if given)."""
    counts = select(Trial.study_id, func.count().label("n")).group_by(Trial.study_id).subquery()
    query = (
        select(Study, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.study_id == Study.id)
        .where(Study.project_id == project.id)
        .order_by(Study.id)
    )
    if name is not None:
        query = query.where(Study.name == name)
    return [_study_out(s, project, int(n)) for s, n in session.execute(query).all()]


def get_study(session: Session, project: Project, study_id: int) -> StudyOut:
    study = _load_study(session, project, study_id)
    n = session.scalar(select(func.count()).where(Trial.study_id == study.id)) or 0
    return _study_out(study, project, n)


def delete_study(session: Session, project: Project, study_id: int) -> None:
    _load_study(session, project, study_id)
    session.execute(delete(Trial).where(Trial.study_id == study_id))
    session.execute(delete(Study).where(Study.id == study_id))


def set_study_attr(
    session: Session, project: Project, study_id: int, kind: str, key: str, value_json: str
) -> None:
    """Set a ``user`` or ``system`` attribute of the study (under its row's lock)."""
    value = _attr_value(key, value_json)
    _bump(session, project, study_id)
    study = _load_study(session, project, study_id)
    column = "user_attrs" if kind == "user" else "system_attrs"
    attrs = json.loads(getattr(study, column))
    attrs[key] = value
    setattr(study, column, _dumps(attrs))


# Trials.
def list_trials(
    session: Session, project: Project, study_id: int, *, since: int | None = None
) -> TrialList:
    """The study's trials by number, or only those changed after version ``since``."""
    # The version first: see the module's docstring.
    version = _load_study(session, project, study_id).version
    query = select(Trial).where(Trial.study_id == study_id).order_by(Trial.number)
    if since is not None:
        query = query.where(Trial.version > since)
    return TrialList(version=version, trials=[trial_out(t) for t in session.scalars(query)])


def create_trial(session: Session, project: Project, study_id: int, body: TrialCreate) -> TrialOut:
    """Add a trial with the study's next number (unique even under concurrent creates)."""
    version = _bump(session, project, study_id, new_trial=True)
    study = _load_study(session, project, study_id)
    now = utcnow()
    start = body.datetime_start
    if start is None and body.state != "WAITING":
        start = now
    complete = body.datetime_complete
    if complete is None and body.state in FINISHED_STATES:
        complete = now
    trial = Trial(
        study_id=study_id,
        number=study.trial_count - 1,
        state=body.state,
        values_json=None if body.values is None else _dumps(body.values),
        params_json=_dumps(_checked_params(study, [], body.params)),
        intermediate_json=_dumps(_merged_intermediate([], body.intermediate)),
        user_attrs=_dumps({k: _attr_value(k, v) for k, v in body.user_attrs.items()}),
        system_attrs=_dumps({k: _attr_value(k, v) for k, v in body.system_attrs.items()}),
        datetime_start=start,
        datetime_complete=complete,
        version=version,
    )
    session.add(trial)
    session.flush()
    return trial_out(trial)


def _trial_study_id(session: Session, project: Project, trial_id: int) -> int:
    found = session.scalar(
        select(Trial.study_id)
        .join(Study, Study.id == Trial.study_id)
        .where(Trial.id == trial_id, Study.project_id == project.id)
    )
    if found is None:
        raise NotFound(f"no trial {trial_id} in project {project.name!r}")
    return int(found)


def get_trial(session: Session, project: Project, trial_id: int) -> TrialOut:
    _trial_study_id(session, project, trial_id)
    trial = session.get(Trial, trial_id)
    assert trial is not None
    return trial_out(trial)


def update_trial(
    session: Session, project: Project, trial_id: int, body: TrialUpdate
) -> TrialUpdateOut:
    """Apply ``body`` to a trial that has not finished; Conflict if it has."""
    study_id = _trial_study_id(session, project, trial_id)
    version = _bump(session, project, study_id)
    study = _load_study(session, project, study_id)
    trial = session.scalars(
        select(Trial).where(Trial.id == trial_id).execution_options(populate_existing=True)
    ).one()
    if trial.state in FINISHED_STATES:
        raise Conflict(
            f"trial {trial.number} of study {study.name!r} has finished ({trial.state}); "
            "it cannot change"
        )
    if body.state == "RUNNING" and trial.state != "WAITING":
        out = trial_out(trial)
        session.rollback()  # nothing changes, not even the version
        return TrialUpdateOut(applied=False, trial=out)
    if body.params:
        params = _checked_params(study, json.loads(trial.params_json), body.params)
        trial.params_json = _dumps(params)
    if body.intermediate:
        merged = _merged_intermediate(json.loads(trial.intermediate_json), body.intermediate)
        trial.intermediate_json = _dumps(merged)
    for column, changes in (("user_attrs", body.user_attrs), ("system_attrs", body.system_attrs)):
        if changes:
            attrs = json.loads(getattr(trial, column))
            attrs.update({k: _attr_value(k, v) for k, v in changes.items()})
            setattr(trial, column, _dumps(attrs))
    if body.values is not None:
        trial.values_json = _dumps(body.values)
    if body.state is not None:
        trial.state = body.state
        if body.state == "RUNNING":
            trial.datetime_start = utcnow()
        if body.state in FINISHED_STATES:
            trial.datetime_complete = utcnow()
    trial.version = version
    session.flush()
    return TrialUpdateOut(applied=True, trial=trial_out(trial))


def _checked_params(study: Study, current: list[list[Any]], new: list[ParamIn]) -> list[list[Any]]:
    """``current`` with ``new`` set, each distribution checked against the study's."""
    known: dict[str, str] = json.loads(study.distributions)
    params = {p[0]: p for p in current}
    for param in new:
        first = known.get(param.name)
        if first is None:
            known[param.name] = param.distribution
        else:
            _check_compatible(param.name, first, param.distribution)
        params[param.name] = [param.name, param.value, param.distribution]
    study.distributions = _dumps(known)
    return list(params.values())


def _check_compatible(name: str, first: str, given: str) -> None:
    """Optuna's rule: the same kind of distribution, and for a categorical one the same choices
    in the same order; ranges may differ."""
    a, b = _distribution(name, first), _distribution(name, given)
    if a.get("name") != b.get("name"):
        raise InvalidInput(
            f"parameter {name!r} has a {a.get('name')} in this study; a trial cannot give it "
            f"a {b.get('name')}"
        )
    if a.get("name") == "CategoricalDistribution":
        choices_a = a.get("attributes", {}).get("choices")
        choices_b = b.get("attributes", {}).get("choices")
        if choices_a != choices_b:
            raise InvalidInput(
                f"parameter {name!r} has the choices {choices_a} in this study; a trial cannot "
                f"give it {choices_b}"
            )


def _distribution(name: str, text: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise InvalidInput(f"parameter {name!r}: the distribution is not a JSON object")
    return found


def _merged_intermediate(
    current: list[list[Any]], new: list[tuple[int, WireFloat]]
) -> list[list[Any]]:
    steps = {int(s): v for s, v in current}
    steps.update({s: v for s, v in new})
    return [[s, steps[s]] for s in sorted(steps)]
