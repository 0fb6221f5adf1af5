"""`CorridorStorage`: an Optuna storage over Corridor's study routes, with a project's permissions.

``optuna.create_study(storage=CorridorStorage(client, "churn"), ...)`` keeps the study in the
server's metadata store (SQLite or PostgreSQL): readable by the project's viewers, writable by
its editors, invisible to everyone else. Every Optuna call is one request at most, and the one
Optuna makes most, ``get_all_trials``, asks only for the trials changed since the version this
storage last saw (finished trials never change, so they are also answered from the cache by
``get_trial``). Trial numbers come from the server, unique per study however many processes
add trials at once.

Errors become what Optuna's own storages raise: an unknown study or trial is a ``KeyError``, a
change to a finished trial ``UpdateFinishedTrialError``, a duplicate study name
``DuplicatedStudyError``, an incompatible distribution ``ValueError``. Optuna's datetimes are
naive local times; they are sent as UTC and come back as naive local times again.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import threading
import uuid
from collections.abc import Container, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import BaseDistribution, distribution_to_json, json_to_distribution
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.storages._base import DEFAULT_STUDY_NAME_PREFIX
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial, TrialState

from corridor.client.connection import Connection
from corridor.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from corridor.training.schemas import ParamIn, TrialCreate, TrialOut, TrialUpdate, WireFloat
from corridor.training.tune.studies_api import StudiesApi


def to_wire(value: float) -> WireFloat:
    """A float as the routes carry it: a number, or ``"inf"``, ``"-inf"``, ``"nan"``."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def from_wire(value: WireFloat) -> float:
    return float(value)


def _to_utc(when: dt.datetime | None) -> dt.datetime | None:
    return None if when is None else when.astimezone(dt.UTC)


def _to_local(when: dt.datetime | None) -> dt.datetime | None:
    return None if when is None else when.astimezone().replace(tzinfo=None)


def frozen_trial(out: TrialOut) -> FrozenTrial:
    """Optuna's view of a trial the server returned."""
    distributions: dict[str, BaseDistribution] = {}
    params: dict[str, Any] = {}
    for p in out.params:
        distribution = json_to_distribution(p.distribution)
        distributions[p.name] = distribution
        params[p.name] = distribution.to_external_repr(from_wire(p.value))
    return FrozenTrial(
        number=out.number,
        state=TrialState[out.state],
        value=None,
        values=None if out.values is None else [from_wire(v) for v in out.values],
        datetime_start=_to_local(out.datetime_start),
        datetime_complete=_to_local(out.datetime_complete),
        params=params,
        distributions=distributions,
        user_attrs=attrs_in(out.user_attrs),
        system_attrs=attrs_in(out.system_attrs),
        intermediate_values={step: from_wire(v) for step, v in out.intermediate},
        trial_id=out.id,
    )


def attrs_in(wire: dict[str, str]) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in wire.items()}


def attrs_out(attrs: dict[str, Any]) -> dict[str, str]:
    return {k: json.dumps(v) for k, v in attrs.items()}


def _param(name: str, internal: float, distribution: BaseDistribution) -> ParamIn:
    return ParamIn(
        name=name, value=to_wire(internal), distribution=distribution_to_json(distribution)
    )


@dataclass
class _StudyCache:
    version: int | None = None
    trials: dict[int, FrozenTrial] = field(default_factory=dict)  # by number
    directions: list[StudyDirection] | None = None


@contextmanager
def _optuna_errors(what: str) -> Iterator[None]:
    """Corridor's errors as Optuna's storages raise them."""
    try:
        yield
    except NotFound as exc:
        raise KeyError(f"{what}: {exc.message}") from exc
    except Conflict as exc:
        raise UpdateFinishedTrialError(exc.message) from exc
    except AlreadyExists as exc:
        raise DuplicatedStudyError(exc.message) from exc
    except InvalidInput as exc:
        raise ValueError(exc.message) from exc


class CorridorStorage(BaseStorage):
    """Optuna studies kept in a Corridor project (``project``, default ``default``).

    Cannot be pickled (it holds the client's connection): a process of its own makes its own
    storage from its own client.
    """

    def __init__(self, client: Connection, project: str = "default") -> None:
        self.api = StudiesApi(client, project)
        self.project = project
        self._lock = threading.RLock()
        self._studies: dict[int, _StudyCache] = {}
        self._study_of_trial: dict[int, int] = {}

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(
            "a CorridorStorage holds a client's connection and cannot be pickled; make one from "
            "a client in each process"
        )

    # The cache.
    def _cache(self, study_id: int) -> _StudyCache:
        return self._studies.setdefault(study_id, _StudyCache())

    def _remember(self, out: TrialOut) -> FrozenTrial:
        trial = frozen_trial(out)
        with self._lock:
            self._cache(out.study_id).trials[out.number] = trial
            self._study_of_trial[out.id] = out.study_id
        return trial

    def _refresh(self, study_id: int) -> _StudyCache:
        with self._lock, _optuna_errors(f"study {study_id}"):
            cache = self._cache(study_id)
            changed = self.api.trials(study_id, since=cache.version)
            for out in changed.trials:
                self._remember(out)
            cache.version = changed.version
            return cache

    # Studies.
    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        name = f"{DEFAULT_STUDY_NAME_PREFIX}{uuid.uuid4()}" if study_name is None else study_name
        with _optuna_errors(f"study {name!r}"):
            out = self.api.create_study(name, [d.name.lower() for d in directions])
        self._cache(out.id).directions = list(directions)
        return out.id

    def delete_study(self, study_id: int) -> None:
        with _optuna_errors(f"study {study_id}"):
            self.api.delete_study(study_id)
        with self._lock:
            self._studies.pop(study_id, None)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        with _optuna_errors(f"study {study_id}"):
            self.api.set_study_attr(study_id, "user", key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        with _optuna_errors(f"study {study_id}"):
            self.api.set_study_attr(study_id, "system", key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        found = self.api.study_named(study_name)
        if found is None:
            raise KeyError(f"no study {study_name!r} in project {self.project!r}")
        return found.id

    def get_study_name_from_id(self, study_id: int) -> str:
        with _optuna_errors(f"study {study_id}"):
            return self.api.study(study_id).name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        cache = self._studies.get(study_id)
        if cache is not None and cache.directions is not None:
            return list(cache.directions)
        with _optuna_errors(f"study {study_id}"):
            out = self.api.study(study_id)
        directions = [StudyDirection[d.upper()] for d in out.directions]
        self._cache(study_id).directions = directions
        return list(directions)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        with _optuna_errors(f"study {study_id}"):
            return attrs_in(self.api.study(study_id).user_attrs)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        with _optuna_errors(f"study {study_id}"):
            return attrs_in(self.api.study(study_id).system_attrs)

    def get_all_studies(self) -> list[FrozenStudy]:
        return [
            FrozenStudy(
                study_name=s.name,
                direction=None,
                directions=[StudyDirection[d.upper()] for d in s.directions],
                user_attrs=attrs_in(s.user_attrs),
                system_attrs=attrs_in(s.system_attrs),
                study_id=s.id,
            )
            for s in self.api.list_studies()
        ]

    # Trials.
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        body = TrialCreate() if template_trial is None else _template(template_trial)
        with _optuna_errors(f"study {study_id}"):
            out = self.api.create_trial(study_id, body)
        self._remember(out)
        return out.id

    def _update(self, trial_id: int, body: TrialUpdate) -> bool:
        with _optuna_errors(f"trial {trial_id}"):
            result = self.api.update_trial(trial_id, body)
        self._remember(result.trial)
        return result.applied

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        self._update(
            trial_id, TrialUpdate(params=[_param(param_name, param_value_internal, distribution)])
        )

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        trial = self._studies.get(study_id, _StudyCache()).trials.get(trial_number)
        if trial is None:
            trial = self._refresh(study_id).trials.get(trial_number)
        if trial is None:
            raise KeyError(f"study {study_id} has no trial number {trial_number}")
        return trial._trial_id

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        wire = None if values is None else [to_wire(v) for v in values]
        return self._update(trial_id, TrialUpdate(state=state.name, values=wire))

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._update(trial_id, TrialUpdate(intermediate=[(step, to_wire(intermediate_value))]))

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._update(trial_id, TrialUpdate(user_attrs=attrs_out({key: value})))

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._update(trial_id, TrialUpdate(system_attrs=attrs_out({key: value})))

    def set_trial_system_attrs(self, trial_id: int, attrs: Mapping[str, Any]) -> None:
        """Set several system attributes in one request (not part of Optuna's interface)."""
        self._update(trial_id, TrialUpdate(system_attrs=attrs_out(dict(attrs))))

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            study_id = self._study_of_trial.get(trial_id)
            if study_id is not None:
                for trial in self._cache(study_id).trials.values():
                    if trial._trial_id == trial_id and trial.state.is_finished():
                        return copy.deepcopy(trial)
        with _optuna_errors(f"trial {trial_id}"):
            out = self.api.trial(trial_id)
        return copy.deepcopy(self._remember(out))

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        cache = self._refresh(study_id)
        with self._lock:
            trials = [cache.trials[n] for n in sorted(cache.trials)]
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials


def _template(trial: FrozenTrial) -> TrialCreate:
    params = [
        _param(name, trial.distributions[name].to_internal_repr(value), trial.distributions[name])
        for name, value in trial.params.items()
    ]
    values = None if trial.values is None else [to_wire(v) for v in trial.values]
    return TrialCreate(
        state=trial.state.name,
        values=values,
        params=params,
        intermediate=[(step, to_wire(v)) for step, v in trial.intermediate_values.items()],
        user_attrs=attrs_out(trial.user_attrs),
        system_attrs=attrs_out(trial.system_attrs),
        datetime_start=_to_utc(trial.datetime_start),
        datetime_complete=_to_utc(trial.datetime_complete),
    )
