"""`corridor run PIPELINE.py` (`corridor.pipelines.cli.run_command`) and `corridor pipelines ...`:
list pipelines and their runs, show a run's steps, retry, start, cancel, read a step's logs;
schedules and triggers are `corridor.pipelines.cli.automation`, in the same group.

Commands talk to the server through the SDK (`client.pipelines`) like every other group, and
import it inside each command so that `corridor --help` stays fast. Every listing takes --json.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from corridor.console import print_json, print_rows, say

if TYPE_CHECKING:
    import datetime as dt

    from corridor.client.pipelines import PipelinesClient
    from corridor.pipelines.schemas import (
        PipelineOut,
        RunOut,
        RunView,
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
def open_client() -> Iterator[PipelinesClient]:
    """``client.pipelines`` of the server the CLI is pointed at, closed on exit."""
    from corridor.client.client import Client

    with Client() as client:
        yield client.pipelines


def utc_text(value: dt.datetime | None) -> str | None:
    """A time as listings print it: UTC, to the second."""
    import datetime as dt

    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _run_name(run: RunOut) -> str:
    return f"pipeline run {run.number} of {run.pipeline} ({run.id})"


def registered(client: PipelinesClient, name: str, project: str | None) -> PipelineOut:
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
    with open_client() as client:
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
            utc_text(p.last_run_at),
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
    with open_client() as client:
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
            utc_text(r.created_at),
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
    with open_client() as client:
        seen = client.get(run_id)
    if as_json:
        print_json(seen)
        return
    _describe(seen)


def _describe(seen: RunView) -> None:
    from rich.console import Console

    from corridor.console import WIDE_TABLE_COLUMNS
    from corridor.pipelines.cli.run_command import print_failures
    from corridor.pipelines.cli.view import StepBoard, StepStatus, render_tree

    run = seen.run
    board = StepBoard()
    board.run = run
    board.plan(seen.graph)
    for row in seen.steps:
        board.update(StepStatus.of_step_run(row))
    say(f"pipeline run {run.number} of {run.pipeline} ({run.id}), project {run.project}")
    say(f"  state     {run.state}" + (f": {run.error}" if run.error else ""))
    say(f"  trigger   {run.trigger}, driver {run.driver}" + _detail(run.trigger_detail))
    say(f"  params    {params_text(run.params)}")
    say(f"  created   {utc_text(run.created_at)} by {run.created_by}")
    for label, when in (("started", run.started_at), ("ended", run.ended_at)):
        if when is not None:
            say(f"  {label:<9} {utc_text(when)}")
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


def params_text(params: dict[str, Any]) -> str:
    """Parameters as ``n=5, names=["a"]``."""
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
    from corridor.pipelines.cli.run_command import follow

    with open_client() as client:
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
    from corridor.pipelines.cli.run_command import follow
    from corridor.pipelines.params import parse_cli

    with open_client() as client:
        values = parse_cli(registered(client, name, project).params, param) if param else {}
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
    with open_client() as client:
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
    with open_client() as client:
        data = client.logs(run_id, step)
    out = sys.stdout
    out.flush()
    out.buffer.write(data if isinstance(data, bytes) else data.encode())
    out.buffer.flush()
