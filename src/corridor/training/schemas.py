"""Request and response bodies of the study routes (/api/v1/projects/{project}/studies...).

Numbers that may not be finite (a trial's values, intermediate values, a parameter's internal
value) travel as a JSON number, or as one of the strings ``"inf"``, ``"-inf"``, ``"nan"``, since
JSON has no spelling for those. Attribute values travel as their JSON text (Python's, where
``NaN`` and ``Infinity`` are spelled), so that any value Optuna stores comes back the same.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StrictFloat, StrictInt

from corridor.schemas import Request, Response
from corridor.training.models import MAX_STUDY_NAME_LENGTH

WireFloat = StrictFloat | StrictInt | Literal["inf", "-inf", "nan"]
Direction = Literal["minimize", "maximize"]
TrialState = Literal["RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING"]
FINISHED_STATES: frozenset[str] = frozenset({"COMPLETE", "PRUNED", "FAIL"})
AttrKey = Annotated[str, Field(min_length=1, max_length=512)]
AttrJson = Annotated[str, Field(max_length=65_536)]
MAX_PARAMS = 1000
MAX_INTERMEDIATE = 100_000


class StudyCreate(Request):
    name: str = Field(max_length=MAX_STUDY_NAME_LENGTH)
    directions: list[Direction] = Field(min_length=1, max_length=64)


class StudyOut(Response):
    id: int
    name: str
    project: str
    directions: list[Direction]
    user_attrs: dict[str, str]
    system_attrs: dict[str, str]
    n_trials: int
    version: int
    created_at: dt.datetime


class AttrSet(Request):
    key: AttrKey
    value_json: AttrJson


class ParamIn(Request):
    name: str = Field(min_length=1, max_length=512)
    value: WireFloat
    # Optuna's ``distribution_to_json``: {"name": class, "attributes": {...}}.
    distribution: str = Field(min_length=2, max_length=65_536)


class TrialCreate(Request):
    """A new trial, empty (RUNNING) or from a template."""

    state: TrialState = "RUNNING"
    values: list[WireFloat] | None = Field(default=None, max_length=64)
    params: list[ParamIn] = Field(default=[], max_length=MAX_PARAMS)
    intermediate: list[tuple[int, WireFloat]] = Field(default=[], max_length=MAX_INTERMEDIATE)
    user_attrs: dict[AttrKey, AttrJson] = Field(default={}, max_length=1000)
    system_attrs: dict[AttrKey, AttrJson] = Field(default={}, max_length=1000)
    datetime_start: dt.datetime | None = None
    datetime_complete: dt.datetime | None = None


class TrialUpdate(Request):
    """Changes to one trial, applied together; a state change is applied last."""

    state: TrialState | None = None
    values: list[WireFloat] | None = Field(default=None, max_length=64)
    params: list[ParamIn] = Field(default=[], max_length=MAX_PARAMS)
    intermediate: list[tuple[int, WireFloat]] = Field(default=[], max_length=10_000)
    user_attrs: dict[AttrKey, AttrJson] = Field(default={}, max_length=1000)
    system_attrs: dict[AttrKey, AttrJson] = Field(default={}, max_length=1000)


class TrialOut(Response):
    id: int
    study_id: int
    number: int
    state: TrialState
    values: list[WireFloat] | None
    params: list[ParamIn]
    intermediate: list[tuple[int, WireFloat]]
    user_attrs: dict[str, str]
    system_attrs: dict[str, str]
    datetime_start: dt.datetime | None
    datetime_complete: dt.datetime | None
    version: int


class TrialUpdateOut(Response):
    # False when the update asked for RUNNING and the trial was no longer WAITING (another
    # worker took it first): nothing was changed.
    applied: bool
    trial: TrialOut


class TrialList(Response):
    """The study's trials changed after ``since`` (all without it), and the version to ask
    from next time."""

    version: int
    trials: list[TrialOut]
