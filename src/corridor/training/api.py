"""HTTP routes of the hyperparameter search under /api/v1/projects/{project}/studies...

Reads need ``project:read`` (a viewer), every change ``project:write`` (an editor), and
deleting a study ``project:admin``, as deleting a model does. A study or trial of another
project is 404. The trial list is the route a search calls most (Optuna reads every trial
before each suggestion), so it answers with only the trials changed since a version.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from corridor.security.policy import Permission
from corridor.training import studies
from corridor.training.schemas import (
    AttrSet,
    StudyCreate,
    StudyOut,
    TrialCreate,
    TrialList,
    TrialOut,
    TrialUpdate,
    TrialUpdateOut,
)
from corridor.web.guard import Access, requires
from corridor.web.sessions import ReadSession, WriteRoute, WriteSession

router = APIRouter(prefix="/api/v1", tags=["training"], route_class=WriteRoute)

STUDIES = "/projects/{project}/studies"
STUDY = STUDIES + "/{study_id}"
TRIAL = "/projects/{project}/trials/{trial_id}"


@router.get(STUDIES, response_model=list[StudyOut])
def list_studies(
    project: str,
    session: ReadSession,
    name: str | None = Query(default=None, max_length=512),
    access: Access = requires(Permission.PROJECT_READ),
) -> list[StudyOut]:
    """The project's studies, oldest first; ``name`` picks one by name."""
    return studies.list_studies(session, access.project_or_fail, name=name)


@router.post(STUDIES, response_model=StudyOut, status_code=201)
def create_study(
    project: str,
    body: StudyCreate,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> StudyOut:
    return studies.create_study(session, access.project_or_fail, body.name, list(body.directions))


@router.get(STUDY, response_model=StudyOut)
def get_study(
    project: str,
    study_id: int,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> StudyOut:
    return studies.get_study(session, access.project_or_fail, study_id)


@router.delete(STUDY, status_code=204)
def delete_study(
    project: str,
    study_id: int,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_ADMIN),
) -> Response:
    """Delete a study with all its trials."""
    studies.delete_study(session, access.project_or_fail, study_id)
    return Response(status_code=204)


@router.put(STUDY + "/attrs/{kind}", status_code=204)
def set_study_attr(
    project: str,
    study_id: int,
    kind: Literal["user", "system"],
    body: AttrSet,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> Response:
    """Set one of the study's user attributes (Optuna's ``set_user_attr``) or system ones."""
    studies.set_study_attr(
        session, access.project_or_fail, study_id, kind, body.key, body.value_json
    )
    return Response(status_code=204)


@router.get(STUDY + "/trials", response_model=TrialList)
def list_trials(
    project: str,
    study_id: int,
    session: ReadSession,
    since: int | None = Query(default=None, ge=0),
    access: Access = requires(Permission.PROJECT_READ),
) -> TrialList:
    """Every trial of the study by number, or those changed after the version ``since``."""
    return studies.list_trials(session, access.project_or_fail, study_id, since=since)


@router.post(STUDY + "/trials", response_model=TrialOut, status_code=201)
def create_trial(
    project: str,
    study_id: int,
    body: TrialCreate,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> TrialOut:
    """Add a trial; its number is the study's next, unique under concurrent creates."""
    return studies.create_trial(session, access.project_or_fail, study_id, body)


@router.get(TRIAL, response_model=TrialOut)
def get_trial(
    project: str,
    trial_id: int,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> TrialOut:
    return studies.get_trial(session, access.project_or_fail, trial_id)


@router.patch(TRIAL, response_model=TrialUpdateOut)
def update_trial(
    project: str,
    trial_id: int,
    body: TrialUpdate,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> TrialUpdateOut:
    """Set params, intermediate values, attributes, values and state in one write; 409 once
    the trial has finished."""
    return studies.update_trial(session, access.project_or_fail, trial_id, body)
