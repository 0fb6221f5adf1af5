"""`corridor run PIPELINE.py` (`corridor.pipelines.run_command`) and `corridor pipelines ...`:
list pipelines and their runs, show a run's steps, retry, start, cancel, read a step's logs,
and manage schedules and triggers.

Commands talk to the server through the SDK (`client.pipelines`) like every other group, and
import it inside each command so that `corridor --help` stays fast. Every listing takes --json.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from corridor.console import print_json, print_rows, say

if TYPE_CHECKING:
    import datetime as dt

    from corridor.client.pipelines import PipelinesClient
    from corridor.pipelines.schemas import (
        MissedPolicy,
        PipelineOut,
        RunOut,
        RunView,
        ScheduleOut,
        TriggerOut,
    )

JSON = typer.Option(False, "--json", help="Print JSON instead of text.")
PROJECT = typer.Option(
    None, "--project", "-p", help="The project (default: the project `default`)."
)
PARAM = typer.Option(
    [], "--param", help="A parameter as NAME=VALUE (repeatable; JSON for lists and dicts)."
)

pipelines = typer.Typer(
    help="Pipelines and their runs: list, show, retry, start, cancel, logs; schedules, triggers.",
    no_args_is_help=True,
)


@contextmanager
def _client() -> Iterator[PipelinesClient]:
    from corridor.client.client import Client

    with Client() as client:
        yield client.pipelines


def _time(value: dt.datetime | None) -> str | None:
    import datetime as dt

    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _run_name(run: RunOut) -> str:
    return f"pipeline run {run.number} of {run.pipeline} ({run.id})"


def _registered(client: PipelinesClient, name: str, project: str | None) -> PipelineOut:
    """The registered pipeline ``name`` (its parameters read ``--param`` values)."""
    from corridor.errors import NotFound

    for found in client.list(project):
        if found.name == name:
            return found
    raise NotFound(
        f"pipeline {name!r} not found in project {project or 'default'!r}: register it first "
        "(corridor run FILE.py, or corridor pipelines schedule FILE.py)"
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in sorted(counts.items()) if n)


@pipelines.command("ls")
def ls(project: str | None = PROJECT, as_json: bool = JSON) -> None:
    """List a project's pipelines, with their last run."""
    with _client() as client:
        found = client.list(project)
    if as_json:
        print_json(found)
        return
    rows = [
        (
            p.name,
            ", ".join(s.name + ("" if s.required else "?") for s in p.params),
            p.runs,
            p.last_run_state,
            _time(p.last_run_at),
            p.max_concurrent_runs or "",
            f"{p.module}:{p.qualname}",
        )
        for p in found
    ]
    columns = ["name", "params", "runs", "last run", "last run at", "max runs", "code"]
    print_rows(f"pipelines in {project or 'default'}", columns, rows)


@pipelines.command("runs")
def runs(
    name: str | None = typer.Argument(None, help="Only this pipeline's runs."),
    state: str | None = typer.Option(None, "--state", help="Only runs in this state."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first."),
    project: str | None = PROJECT,
    as_json: bool = JSON,
) -> None:
    """List pipeline runs, newest first."""
    with _client() as client:
        found = client.runs(project, pipeline=name, state=state, limit=limit)
    if as_json:
        print_json(found)
        return
    rows = [
        (
            r.id,
            r.pipeline,
            r.number,
            r.state,
            r.trigger,
            _time(r.created_at),
            _counts(r.counts),
            r.error,
        )
        for r in found
    ]
    columns = ["id", "pipeline", "run", "state", "trigger", "created", "steps", "error"]
    print_rows(f"pipeline runs in {project or 'default'}", columns, rows)


@pipelines.command("show")
def show(run_id: str, as_json: bool = JSON) -> None:
    """A run's steps as a tree (states, cache hits, timings, job ids), then the error and
    traceback of each failed step."""
    with _client() as client:
        seen = client.get(run_id)
    if as_json:
        print_json(seen)
        return
    _describe(seen)


def _describe(seen: RunView) -> None:
    from rich.console import Console

    from corridor.console import WIDE_TABLE_COLUMNS
    from corridor.pipelines.run_command import print_failures
    from corridor.pipelines.view import StepBoard, StepStatus, render_tree

    run = seen.run
    board = StepBoard()
    board.run = run
    board.plan(seen.graph)
    for row in seen.steps:
        board.update(StepStatus.of_step_run(row))
    say(f"pipeline run {run.number} of {run.pipeline} ({run.id}), project {run.project}")
    say(f"  state     {run.state}" + (f": {run.error}" if run.error else ""))
    say(f"  trigger   {run.trigger}, driver {run.driver}" + _detail(run.trigger_detail))
    say(f"  params    {_params(run.params)}")
    say(f"  created   {_time(run.created_at)} by {run.created_by}")
    for label, when in (("started", run.started_at), ("ended", run.ended_at)):
        if when is not None:
            say(f"  {label:<9} {_time(when)}")
    if run.no_cache or run.site:
        say(f"  options   {'no cache ' if run.no_cache else ''}{run.site or ''}".rstrip())
    sys.stdout.flush()
    console = Console()
    if not console.is_terminal:
        console = Console(width=WIDE_TABLE_COLUMNS)
    console.print(render_tree(board))
    print_failures(board.failures(), run.id)


def _detail(detail: dict[str, Any]) -> str:
    return f" ({', '.join(f'{k} {v}' for k, v in detail.items())})" if detail else ""


def _params(params: dict[str, Any]) -> str:
    import json

    return ", ".join(f"{k}={json.dumps(v)}" for k, v in params.items()) or "(none)"


@pipelines.command("retry")
def retry(
    run_id: str,
    detach: bool = typer.Option(False, "--detach", help="Start it and return; do not follow."),
    as_json: bool = JSON,
) -> None:
    """Resume a failed or cancelled run: steps that succeeded are kept, the others run again.
    Follows the run (as `corridor run` shows one) unless --detach."""
    from corridor.pipelines.run_command import follow

    with _client() as client:
        again = client.retry(run_id).run
        if detach:
            if as_json:
                print_json(again)
            else:
                say(
                    f"pipeline run {again.number} of {again.pipeline} ({again.id}) is {again.state}"
                )
            return
        follow(client, again.id, as_json=as_json)


@pipelines.command("start")
def start(
    name: str,
    param: list[str] = PARAM,
    project: str | None = PROJECT,
    follow_it: bool = typer.Option(False, "--follow", help="Follow the run until it ends."),
    as_json: bool = JSON,
) -> None:
    """Start a run of a registered pipeline in the server (a driver job runs it)."""
    from corridor.pipelines.params import parse_cli
    from corridor.pipelines.run_command import follow

    with _client() as client:
        values = parse_cli(_registered(client, name, project).params, param) if param else {}
        started = client.start(name, values, project=project)
        if follow_it:
            follow(client, started.id, as_json=as_json)
            return
    if as_json:
        print_json(started)
    else:
        say(f"started {_run_name(started)}: {started.state}")


@pipelines.command("cancel")
def cancel(run_id: str, as_json: bool = JSON) -> None:
    """Cancel a run: its live step jobs and its driver stop; its steps are marked cancelled."""
    with _client() as client:
        ended = client.cancel(run_id)
    if as_json:
        print_json(ended)
    else:
        say(f"pipeline run {ended.number} of {ended.pipeline} ({ended.id}) is {ended.state}")


@pipelines.command("logs")
def logs(
    run_id: str, step: str = typer.Argument(..., help="The step's key: clean, score[3].")
) -> None:
    """Print what a step wrote (its standard output and error), as it wrote it."""
    with _client() as client:
        data = client.logs(run_id, step)
    out = sys.stdout
    out.flush()
    out.buffer.write(data if isinstance(data, bytes) else data.encode())
    out.buffer.flush()


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
    with _client() as client:
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
        nxt = f", next run at {_time(made.next_fire_at)} UTC" if made.next_fire_at else ""
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
    return target, _registered(client, target, project).params


def _parse(specs: Any, pairs: list[str]) -> dict[str, object]:
    from corridor.pipelines.params import params_json, parse_cli

    return params_json(parse_cli(specs, pairs)) if pairs else {}


@pipelines.command("schedules")
def schedules(name: str, project: str | None = PROJECT, as_json: bool = JSON) -> None:
    """List a pipeline's schedules."""
    with _client() as client:
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
        _params(s.params),
        "yes" if s.enabled else "no",
        _time(s.next_fire_at),
        _time(s.last_fire_at),
    )


@pipelines.command("unschedule")
def unschedule(schedule_id: str) -> None:
    """Delete a schedule (runs it started stay)."""
    with _client() as client:
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
    with _client() as client:
        values = _parse(_registered(client, name, project).params, param)
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
    with _client() as client:
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
            _params(t.params),
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
    with _client() as client:
        client.untrigger(trigger_id)
    say(f"deleted trigger {trigger_id}")


def register(app: typer.Typer) -> None:
    """Add `corridor run` and `corridor pipelines ...` to ``app``."""
    from corridor.pipelines.run_command import run

    app.command("run")(run)
    app.add_typer(pipelines, name="pipelines")
