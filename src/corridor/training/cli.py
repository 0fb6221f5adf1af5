"""`corridor studies ...`: list the hyperparameter studies of a project and show one's trials."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer

from corridor.console import print_json, print_rows, say

if TYPE_CHECKING:
    from corridor.client.client import Client
    from corridor.training.schemas import TrialOut

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
PROJECT = typer.Option("default", "--project", "-p", help="The project (default: default).")
studies = typer.Typer(
    help="List hyperparameter studies and show their trials.", no_args_is_help=True
)


def _client() -> Client:
    from corridor.client.client import Client

    return Client()


@studies.command("ls")
def studies_ls(project: str = PROJECT, as_json: bool = JSON) -> None:
    """List the project's studies."""
    from corridor.training.tune.studies_api import StudiesApi

    with _client() as c:
        found = StudiesApi(c, project).list_studies()
    if as_json:
        print_json(found)
        return
    rows = [
        (s.name, s.id, ", ".join(s.directions), s.n_trials, s.created_at.strftime("%Y-%m-%d %H:%M"))
        for s in found
    ]
    print_rows("", ["name", "id", "directions", "trials", "created"], rows)


@studies.command("show")
def studies_show(name: str, project: str = PROJECT, as_json: bool = JSON) -> None:
    """Show a study: its best trial and every trial's state, value and params."""
    from corridor.errors import NotFound
    from corridor.training.tune.studies_api import StudiesApi
    from corridor.training.tune.summary import best_trial_of

    with _client() as c:
        api = StudiesApi(c, project)
        study = api.study_named(name)
        if study is None:
            raise NotFound(f"no study {name!r} in project {project!r}")
        trials = api.trials(study.id).trials
    best = best_trial_of(study.directions, trials)
    if as_json:
        print_json(
            {
                **study.model_dump(mode="json"),
                "best_trial": None if best is None else best.number,
                "trials": [t.model_dump(mode="json") for t in trials],
            }
        )
        return
    say(f"{study.name} (project {study.project}, {', '.join(study.directions)})")
    if best is not None:
        say(f"best: trial {best.number}, value {best.values}, params {_params(best)}")
    rows = [(t.number, t.state, _values(t.values), len(t.intermediate), _params(t)) for t in trials]
    print_rows("", ["trial", "state", "value", "steps", "params"], rows)


def _values(values: Sequence[object] | None) -> str:
    return (
        ""
        if values is None
        else ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in values)
    )


def _params(trial: TrialOut) -> str:
    from corridor.training.tune.summary import external_params

    return ", ".join(f"{k}={v}" for k, v in external_params(trial).items())


def register(app: typer.Typer) -> None:
    app.add_typer(studies, name="studies")
