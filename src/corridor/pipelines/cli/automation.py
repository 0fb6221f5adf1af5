"""`corridor pipelines schedule|schedules|unschedule|trigger|triggers|untrigger`: what starts a
pipeline's runs without anyone typing `corridor run`.

Schedules and triggers live in the server (the slice's loop fires them, across restarts), so
they run the pipeline's registered code: `schedule FILE.py` registers the file's pipeline (its
code snapshot uploaded) first. ``--param`` values are read by the registered parameter types.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from corridor.console import print_json, print_rows, say
from corridor.pipelines.cli.commands import (
    JSON,
    PARAM,
    PROJECT,
    open_client,
    params_text,
    pipelines,
    registered,
    utc_text,
)

if TYPE_CHECKING:
    from corridor.client.pipelines import PipelinesClient
    from corridor.pipelines.schemas import MissedPolicy, ScheduleOut, TriggerOut


@pipelines.command("schedule")
def schedule(
    target: str = typer.Argument(..., help="A registered pipeline's name, or a pipeline file."),
    cron: str = typer.Option(..., "--cron", help='5 fields or @daily: "0 6 * * mon-fri".'),
    timezone: str = typer.Option("UTC", "--timezone", help="An IANA zone: Europe/Paris."),
    missed: str = typer.Option(
        "skip", "--missed", help="Fires missed while the server was down: skip, once or all."
    ),
    param: list[str] = PARAM,
    pipeline: str | None = typer.Option(
        None, "--pipeline", help="With a file: the pipeline to schedule, when it has several."
    ),
    project: str | None = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Run a pipeline on a cron schedule, in the server. A file is registered first (its code
    snapshot uploaded), so later runs use that code."""
    if missed not in ("skip", "once", "all"):
        raise typer.BadParameter(f"--missed must be skip, once or all, not {missed!r}")
    with open_client() as client:
        name, specs = _target(client, target, pipeline, project)
        values = _parse(specs, param)
        made = client.schedule(
            name,
            cron=cron,
            timezone=timezone,
            params=values,
            missed=cast("MissedPolicy", missed),
            project=project,
        )
    if as_json:
        print_json(made)
    else:
        nxt = f", next run at {utc_text(made.next_fire_at)} UTC" if made.next_fire_at else ""
        say(f"scheduled {made.pipeline}: {made.cron} ({made.timezone}){nxt}; schedule {made.id}")


def _target(
    client: PipelinesClient, target: str, pipeline: str | None, project: str | None
) -> tuple[str, Any]:
    """The pipeline's name and its parameters' source: a file is imported and registered."""
    from corridor.pipelines.pipeline_files import load_pipeline_file

    if target.endswith(".py"):
        found = load_pipeline_file(Path(target))
        chosen = found.choose(pipeline)
        client.register(chosen, project=project, workdir=found.root)
        return chosen.name, chosen
    return target, registered(client, target, project).params


def _parse(specs: Any, pairs: list[str]) -> dict[str, object]:
    from corridor.pipelines.params import params_json, parse_cli

    return params_json(parse_cli(specs, pairs)) if pairs else {}


@pipelines.command("schedules")
def schedules(name: str, project: str | None = PROJECT, as_json: bool = JSON) -> None:
    """List a pipeline's schedules."""
    with open_client() as client:
        found = client.schedules(name, project=project)
    if as_json:
        print_json(found)
        return
    print_rows(
        f"schedules of {name}",
        ["id", "cron", "timezone", "missed", "params", "enabled", "next", "last"],
        [_schedule_row(s) for s in found],
    )


def _schedule_row(s: ScheduleOut) -> tuple[Any, ...]:
    return (
        s.id,
        s.cron,
        s.timezone,
        s.missed,
        params_text(s.params),
        "yes" if s.enabled else "no",
        utc_text(s.next_fire_at),
        utc_text(s.last_fire_at),
    )


@pipelines.command("unschedule")
def unschedule(schedule_id: str) -> None:
    """Delete a schedule (runs it started stay)."""
    with open_client() as client:
        client.unschedule(schedule_id)
    say(f"deleted schedule {schedule_id}")


@pipelines.command("trigger")
def trigger(
    name: str,
    dataset: str | None = typer.Option(None, "--dataset", help="Run on each new version of it."),
    model: str | None = typer.Option(None, "--model", help="With --alias: run when it moves."),
    alias: str | None = typer.Option(None, "--alias", help="The model's alias to watch."),
    param_name: str | None = typer.Option(
        None, "--param-name", help="The parameter that receives the new 'name@N'."
    ),
    param: list[str] = PARAM,
    project: str | None = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Run a pipeline when a dataset gets a new version, or when a model's alias moves."""
    if (dataset is None) == (model is None) or (model is None) != (alias is None):
        raise typer.BadParameter("give --dataset D, or --model M with --alias A")
    with open_client() as client:
        values = _parse(registered(client, name, project).params, param)
        made = client.trigger(
            name,
            dataset=dataset,
            model=model,
            alias=alias,
            param=param_name,
            params=values,
            project=project,
        )
    if as_json:
        print_json(made)
    else:
        say(f"trigger {made.id}: {made.pipeline} runs {_watch(made)}")


def _watch(t: TriggerOut) -> str:
    gets = f", its parameter {t.param!r} set to the new reference" if t.param else ""
    if t.kind == "dataset":
        return f"on each new version of dataset {t.dataset}{gets}"
    return f"when alias {t.alias} of model {t.model} moves{gets}"


@pipelines.command("triggers")
def triggers(name: str, project: str | None = PROJECT, as_json: bool = JSON) -> None:
    """List a pipeline's triggers."""
    with open_client() as client:
        found = client.triggers(name, project=project)
    if as_json:
        print_json(found)
        return
    rows = [
        (
            t.id,
            t.kind,
            t.dataset or f"{t.model}@{t.alias}",
            t.param,
            params_text(t.params),
            t.last_seen,
            "yes" if t.enabled else "no",
        )
        for t in found
    ]
    print_rows(
        f"triggers of {name}",
        ["id", "kind", "watches", "param", "params", "last seen", "enabled"],
        rows,
    )


@pipelines.command("untrigger")
def untrigger(trigger_id: str) -> None:
    """Delete a trigger (runs it started stay)."""
    with open_client() as client:
        client.untrigger(trigger_id)
    say(f"deleted trigger {trigger_id}")
