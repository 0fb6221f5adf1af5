"""Locators: the project(s) an MLflow request acts in, found from what it names.

Each takes the read session, the parsed message and the request, and returns the projects with
what the request named to reach each (``("team", "run 'ab12...'")``), so that an outsider is
told exactly what a caller naming something absent is told. A name that leads nowhere raises
`NotFound` with that same wording, which the client sees as RESOURCE_DOES_NOT_EXIST.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from fastapi import Request
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.mlflow_compat.access import Located, workspace_of
from corridor.security.projects import project_name_for, qualified_name
from corridor.tracking import experiments, logged_models, runs
from corridor.tracking.experiments import DEFAULT_EXPERIMENT_ID, DEFAULT_PROJECT

# Runs and experiments never move to another project, and their ids are never given again, so
# which project an id belongs to can be remembered. An entry cannot outlive its meaning: if the
# run (or its project) is deleted, the service finds it missing when the handler asks for it.
_MAX_REMEMBERED = 100_000


def _remembered(request: Request, key: str, find: Callable[[], str]) -> str:
    # Per app, never per process: two servers in one process (tests, in-process clients over
    # other homes) have different databases, where the same experiment id means another thing.
    cache: dict[str, str] | None = getattr(request.app.state, "mlflow_projects", None)
    if cache is None:
        cache = request.app.state.mlflow_projects = {}
    found = cache.get(key)
    if found is None:
        found = find()
        if len(cache) >= _MAX_REMEMBERED:
            cache.clear()
        cache[key] = found
    return found


# What each locator reads of a message: any route message that has it will do.


class NamesExperiment(Protocol):
    @property
    def experiment_id(self) -> str: ...


class NamesExperiments(Protocol):
    @property
    def experiment_ids(self) -> Sequence[str]: ...


class NamesExperimentByName(Protocol):
    @property
    def experiment_name(self) -> str: ...


class Named(Protocol):
    """A message that names a new experiment, or a registered model."""

    @property
    def name(self) -> str: ...


class NamesRun(Protocol):
    @property
    def run(self) -> str: ...


def experiment_project(session: Session, request: Request, experiment_id: str) -> Located:
    """The project of experiment ``experiment_id``; MLflow's experiment "0" is in ``default``."""
    named = f"experiment {experiment_id!r}"
    number = experiments.parse_experiment_id(experiment_id)
    if number == DEFAULT_EXPERIMENT_ID:
        # It is created on first use, so it may not exist yet; its project is fixed.
        return DEFAULT_PROJECT, named
    project = _remembered(
        request,
        f"experiment:{number}",
        lambda: experiments.project_of_experiment(session, number),
    )
    return project, named


def by_experiment(
    session: Session, message: NamesExperiment, request: Request
) -> Sequence[Located]:
    """The message's ``experiment_id``."""
    return [experiment_project(session, request, message.experiment_id)]


def by_experiments(
    session: Session, message: NamesExperiments, request: Request
) -> Sequence[Located]:
    """Every experiment of ``experiment_ids`` (a search may span several projects)."""
    return [experiment_project(session, request, e) for e in message.experiment_ids]


def qualified_experiment_name(request: Request, name: str) -> str:
    """``name`` as stored: within a workspace, a bare name is qualified with its project."""
    workspace = workspace_of(request)
    return qualified_name(workspace, name) if workspace else name


def by_experiment_name(
    session: Session, message: NamesExperimentByName, request: Request
) -> Sequence[Located]:
    """An existing experiment, by name (within the request's workspace, if any)."""
    name = qualified_experiment_name(request, message.experiment_name)
    return [(experiments.get_experiment_by_name(session, name).project, f"experiment {name!r}")]


def by_new_experiment_name(session: Session, message: Named, request: Request) -> Sequence[Located]:
    """Where an experiment named ``name`` is created: the workspace, else the name's project."""
    if not message.name:
        raise InvalidInput("Missing value for required parameter 'name'")
    workspace = workspace_of(request)
    if workspace:
        return [(workspace, f"project {workspace!r}")]
    project = project_name_for(session, message.name)
    return [(project, f"project {project!r}")]


def by_workspace(session: Session, message: object, request: Request) -> Sequence[Located]:
    """The workspace the request names; none means every project the caller may read."""
    workspace = workspace_of(request)
    return [(workspace, f"project {workspace!r}")] if workspace else []


def nowhere(session: Session, message: object, request: Request) -> Sequence[Located]:
    """For routes that need a credential but act in no project (never called)."""
    return []


def by_run(session: Session, message: NamesRun, request: Request) -> Sequence[Located]:
    """The message's run (``run_id`` or ``run_uuid``)."""
    run_id = message.run
    project = _remembered(request, f"run:{run_id}", lambda: runs.project_of_run(session, run_id))
    return [(project, f"run {run_id!r}")]


def logged_model_project(session: Session, request: Request, model_id: str) -> Located:
    """The project of logged model ``model_id`` (which, like a run, never moves)."""
    project = _remembered(
        request,
        f"logged-model:{model_id}",
        lambda: logged_models.project_of_logged_model(session, model_id),
    )
    return project, f"logged model {model_id!r}"


def by_logged_model(session: Session, message: object, request: Request) -> Sequence[Located]:
    """The logged model the path names (``/logged-models/<model_id>...``)."""
    return [logged_model_project(session, request, str(request.path_params.get("model_id", "")))]
