"""`corridor run PIPELINE.py`, and following a server-driven run to its end (`pipelines retry`,
`pipelines start --follow`), with the same view and the same ending.

`corridor run` drives the pipeline from this process (the SDK's ``client.pipelines.run``): step
jobs run on the compute sites, in-process steps here, and the run's records live on the server.
The driver calls the view's ``handle`` from its own threads; the view never blocks them. A run
the server drives (a retry, a manual start) is followed by polling its run view every 0.3 s and
feeding the step runs that changed to the same view.

The run ends by printing the pipeline's value as JSON; parts JSON cannot hold (a table, an
array, bytes) are printed as a one-line summary, since the value itself is stored with the run.
Exit codes: 0 the run succeeded, 1 it failed (the failed steps' errors and tracebacks printed),
130 on Ctrl-C.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import typer

from corridor.console import fail, say

if TYPE_CHECKING:
    from corridor.client.pipelines import PipelinesClient
    from corridor.pipelines.cli.view import LiveView, PlainLines, StepStatus
    from corridor.pipelines.schemas import FailurePolicy, RunOut

INTERRUPTED = 130
"""The exit code of a command stopped by Ctrl-C, as a shell reports SIGINT."""
FOLLOW_POLL_S = 0.3
ENDED_RUN = frozenset({"succeeded", "failed", "cancelled"})


def open_view(as_json: bool, title: str = "pipeline") -> LiveView | PlainLines:
    """The live tree where its stream is a terminal, else plain lines. With --json standard output
    holds the value alone, so the view goes to standard error."""
    from rich.console import Console

    from corridor.pipelines.cli.view import LiveView, PlainLines

    stream = sys.stderr if as_json else sys.stdout
    console = Console(file=stream)
    live = console.is_terminal and not console.is_dumb_terminal  # a dumb one cannot redraw
    return LiveView(console, title=title) if live else PlainLines(stream)


def run(
    path: Path = typer.Argument(..., help="The pipeline file (a .py file with a @pipeline)."),
    pipeline: str | None = typer.Option(
        None, "--pipeline", help="The pipeline to run, when the file has several."
    ),
    param: list[str] = typer.Option(
        [], "--param", help="A parameter as NAME=VALUE (repeatable; JSON for lists and dicts)."
    ),
    site: str | None = typer.Option(
        None, "--site", help="Run step jobs at this site (unless a step names its own)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step, cached or not."),
    on_failure: str | None = typer.Option(
        None, "--on-failure", help="fail_fast (the pipeline's default) or continue."
    ),
    project: str | None = typer.Option(
        None, "--project", "-p", help="The project (default: the project `default`)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print only the pipeline's value, as JSON (the run id on stderr)."
    ),
) -> None:
    """Run a pipeline file with a live view of its steps, then print the pipeline's value.

    Not `corridor runs` (tracking runs). Exits 0 when the run succeeds, 1 when it fails (with each
    failed step's error and traceback), 130 on Ctrl-C (resume with `corridor pipelines retry`).
    """
    from corridor.client.client import Client
    from corridor.pipelines.params import parse_cli
    from corridor.pipelines.pipeline_files import load_pipeline_file

    if on_failure not in (None, "fail_fast", "continue"):
        raise typer.BadParameter(f"--on-failure must be fail_fast or continue, not {on_failure!r}")
    found = load_pipeline_file(path)
    chosen = found.choose(pipeline)
    values = parse_cli(chosen, param)
    view = open_view(as_json, chosen.name)
    with Client() as client:
        try:
            with view:
                result = client.pipelines.run(
                    chosen,
                    values,
                    project=project,
                    site=site,
                    no_cache=no_cache,
                    on_failure=cast("FailurePolicy | None", on_failure),
                    on_event=view.handle,
                    workdir=found.root,
                    trigger="cli",
                )
        except KeyboardInterrupt:
            interrupted(client.pipelines, view.board.run)
        finish(client.pipelines, view, result.run, result.value, as_json=as_json)


def interrupted(client: PipelinesClient, run: RunOut | None) -> NoReturn:
    """Ctrl-C: cancel the run (its live jobs stop, what ended is kept) so that `retry` can
    resume it at once, say so, and exit 130."""
    if run is None:
        fail("interrupted before the pipeline run started")
        raise typer.Exit(INTERRUPTED)
    try:
        client.cancel(run.id)
    except (Exception, KeyboardInterrupt) as exc:  # a second Ctrl-C, or no server: leave it
        fail(
            f"interrupted: {_name(run)} was left running ({type(exc).__name__}); the server "
            f"marks it failed within minutes, then `corridor pipelines retry {run.id}` resumes it"
        )
        raise typer.Exit(INTERRUPTED) from None
    fail(
        f"interrupted: {_name(run)} is cancelled (the steps that ended are kept); resume it "
        f"with `corridor pipelines retry {run.id}`"
    )
    raise typer.Exit(INTERRUPTED)


def follow(client: PipelinesClient, run_id: str, *, as_json: bool) -> None:
    """Show a server-driven run until it ends, then print its value (or its failures) and exit
    as `corridor run` does. Ctrl-C stops following; the run goes on."""
    from corridor.pipelines.cli.view import StepStatus

    view = open_view(as_json)
    try:
        with view:
            while True:
                seen = client.get(run_id)
                view.board.run = seen.run
                view.board.plan(seen.graph)
                for row in seen.steps:
                    view.show(StepStatus.of_step_run(row))
                if seen.run.state in ENDED_RUN:
                    break
                time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        fail(
            f"stopped following pipeline run {run_id}; it goes on in the server "
            f"(`corridor pipelines show {run_id}`, `corridor pipelines cancel {run_id}`)"
        )
        raise typer.Exit(INTERRUPTED) from None
    value = client.result(run_id) if seen.run.state == "succeeded" else None
    finish(client, view, seen.run, value, as_json=as_json)


def _name(run: RunOut) -> str:
    return f"pipeline run {run.number} of {run.pipeline} ({run.id})"


def finish(
    client: PipelinesClient,
    view: LiveView | PlainLines,
    run: RunOut,
    value: Any,
    *,
    as_json: bool,
) -> None:
    """Print how the run ended: the value of a success; for a failure each failed step's error
    and traceback (unless the plain lines printed them already), and exit 1."""
    from corridor.pipelines.cli.view import LiveView, format_duration

    took = ""
    if run.started_at is not None and run.ended_at is not None:
        took = f" in {format_duration((run.ended_at - run.started_at).total_seconds())}"
    headline = f"pipeline run {run.number} of {run.pipeline} {run.state}{took} ({run.id})"
    if run.state != "succeeded":
        if isinstance(view, LiveView) or not view.board.failures():
            print_failures(view.board.failures() or failed_steps(client, run.id), run.id)
        elif view.tracebacks.left_out:
            sys.stderr.write(
                f"({view.tracebacks.left_out} more tracebacks left out: corridor pipelines show "
                f"{run.id} --json holds every one)\n"
            )
        fail(headline + (f": {run.error}" if run.error else ""))
        raise typer.Exit(1)
    shown, summaries = jsonable(value)
    if as_json:
        sys.stderr.write(headline + "\n")
        sys.stdout.write(json.dumps(shown, indent=2, default=str) + "\n")
    else:
        say(headline)
        whole = len(summaries) == 1 and shown == summaries[0]
        text = str(shown) if whole else json.dumps(shown, indent=2, default=str)
        if isinstance(view, LiveView) and not whole:
            view.console.print_json(text)  # coloured, on the terminal the tree is on
        else:
            say(text)
    if summaries:
        sys.stderr.write(
            "note: the value holds data JSON cannot show, printed as its summary; load it with "
            f"client.pipelines.result({run.id!r})\n"
        )


def failed_steps(client: PipelinesClient, run_id: str) -> list[StepStatus]:
    """The failed steps and items of a stored run."""
    from corridor.pipelines.cli.view import StepStatus

    return [StepStatus.of_step_run(s) for s in client.get(run_id).steps if s.state == "failed"]


def print_failures(failures: list[StepStatus], run_id: str) -> None:
    """Each failed step's error and its traceback (each distinct one once, the first ten), on
    standard error."""
    from corridor.pipelines.cli.view import TracebackBudget

    budget = TracebackBudget()
    for status in failures:
        sys.stderr.write(f"step {status.key} failed: {status.error or 'failed'}\n")
        if status.traceback and budget.take(status.traceback):
            sys.stderr.write(status.traceback.rstrip("\n") + "\n")
    if budget.left_out:
        sys.stderr.write(
            f"({budget.left_out} more tracebacks left out: corridor pipelines show {run_id} "
            "--json holds every one)\n"
        )


def jsonable(value: object) -> tuple[object, list[str]]:
    """``value`` as JSON values, each leaf JSON cannot hold (a table, an array, bytes) replaced by
    its summary; and those summaries, so the caller can say the value was abridged."""
    summaries: list[str] = []

    def walk(v: object) -> object:
        if v is None or isinstance(v, bool | int | float | str):
            return v
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {k: walk(x) for k, x in v.items()}
        summary = summarize(v)
        summaries.append(summary)
        return summary

    return walk(value), summaries


def summarize(value: object) -> str:
    """A short description of a value JSON cannot hold: ``pyarrow.Table 1,000 rows x 3 columns``."""
    kind = type(value)
    name = f"{kind.__module__.split('.')[0]}.{kind.__qualname__}"
    rows, columns = getattr(value, "num_rows", None), getattr(value, "num_columns", None)
    if isinstance(rows, int) and isinstance(columns, int):
        return f"{name} {rows:,} rows x {columns:,} columns"
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if isinstance(shape, tuple) and len(shape) == 2 and dtype is None:  # a polars frame
        return f"{name} {shape[0]:,} rows x {shape[1]:,} columns"
    if isinstance(shape, tuple) and dtype is not None:
        dims = " x ".join(f"{d:,}" for d in shape) or "scalar"
        return f"{name} {dims} {dtype}"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"{len(bytes(value)):,} bytes"
    return name
