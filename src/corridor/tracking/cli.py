"""`corridor runs ...`: list, show and compare tracking runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer

from corridor.console import print_json, say

if TYPE_CHECKING:
    from corridor.client.client import Client
    from corridor.tracking.schemas import RunOut

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
runs = typer.Typer(help="List, show and compare tracking runs.", no_args_is_help=True)


def _client() -> Client:
    from corridor.client.client import Client

    return Client()


def _time(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None)
    for column in columns:
        # Ids are copied into other commands: never cut them short.
        is_id = column == "run_id"
        table.add_column(column, no_wrap=is_id, min_width=32 if is_id else None)
    for row in rows:
        table.add_row(*(_value(v) for v in row))
    Console().print(table)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _experiment_ids(client: Client, project: str, experiments: Sequence[str]) -> list[str]:
    """Ids for experiments given by id or by name (bare, or with the project's prefix)."""
    ids = []
    for given in experiments:
        if given.isdigit():
            ids.append(given)
            continue
        names = ", ".join(_quoted(n) for n in (given, f"{project}/{given}"))
        found = client.search_experiments(project, filter=f"name IN ({names})", view="ALL")
        if not found.experiments:
            raise typer.BadParameter(f"no experiment {given!r} in project {project!r}")
        ids.append(found.experiments[0].experiment_id)
    return ids


@runs.command("ls")
def runs_ls(
    project: str = typer.Option("default", "--project", "-p", help="The project to search."),
    experiment: list[str] = typer.Option(
        [], "--experiment", "-e", help="Experiment name or id (repeatable); default all."
    ),
    filter_string: str = typer.Option(
        "",
        "--filter",
        "-f",
        help="MLflow filter, e.g. \"metrics.acc > 0.9 and params.lr = '0.1'\".",
    ),
    order_by: list[str] = typer.Option([], "--order-by", help="e.g. 'metrics.acc DESC'."),
    max_results: int = typer.Option(100, "--max-results", min=1, max=50_000),
    deleted: bool = typer.Option(False, "--deleted", help="List deleted runs instead."),
    as_json: bool = JSON,
) -> None:
    """List the runs of a project that match a filter, newest first."""
    with _client() as c:
        page = c.search_runs(
            project,
            experiment_ids=_experiment_ids(c, project, experiment),
            filter=filter_string or None,
            order_by=order_by,
            max_results=max_results,
            view="DELETED_ONLY" if deleted else "ACTIVE_ONLY",
        )
    if as_json:
        print_json(page.runs)
        return
    keys = sorted({k for r in page.runs for k in r.metrics})[:6]
    rows = [
        [r.info.run_id, r.info.run_name, r.info.experiment_id, r.info.status]
        + [_time(r.info.start_time)]
        + [r.metrics[k].value if k in r.metrics else None for k in keys]
        for r in page.runs
    ]
    columns = ["run_id", "name", "experiment", "status", "started", *keys]
    _table(f"runs in {project}", columns, rows)
    if page.next_page_token:
        say(f"(more runs match; raise --max-results above {max_results} to see them)")


@runs.command("show")
def runs_show(run_id: str, as_json: bool = JSON) -> None:
    """Show a run: its status, params, tags and latest metrics."""
    with _client() as c:
        run = c.get_run(run_id)
    if as_json:
        print_json(run)
        return
    info = run.info
    say(f"run {info.run_id} ({info.run_name}) in experiment {info.experiment_id}")
    say(f"status {info.status}, user {info.user_id}")
    say(f"started {_time(info.start_time)}, ended {_time(info.end_time) or '-'}")
    say(f"artifacts {info.artifact_uri}")
    if run.params:
        _table("params", ["key", "value"], sorted(run.params.items()))
    if run.metrics:
        rows = [[k, m.value, m.step, _time(m.timestamp)] for k, m in sorted(run.metrics.items())]
        _table("metrics (latest)", ["key", "value", "step", "time"], rows)
    if run.tags:
        _table("tags", ["key", "value"], sorted(run.tags.items()))


def comparison(runs_: Sequence[RunOut]) -> dict[str, Any]:
    """Params and latest metrics of several runs, side by side, keyed by run id."""
    ids = [r.info.run_id for r in runs_]
    params = sorted({k for r in runs_ for k in r.params})
    metrics = sorted({k for r in runs_ for k in r.metrics})
    return {
        "runs": [{"run_id": r.info.run_id, "run_name": r.info.run_name} for r in runs_],
        "params": {
            k: {i: r.params.get(k) for i, r in zip(ids, runs_, strict=True)} for k in params
        },
        "metrics": {
            k: {
                i: (r.metrics[k].value if k in r.metrics else None)
                for i, r in zip(ids, runs_, strict=True)
            }
            for k in metrics
        },
    }


@runs.command("compare")
def runs_compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids."),
    as_json: bool = JSON,
) -> None:
    """Compare runs: params and latest metrics side by side."""
    if len(run_ids) < 2:
        raise typer.BadParameter("give at least two run ids")
    with _client() as c:
        found = [c.get_run(r) for r in run_ids]
    table = comparison(found)
    if as_json:
        print_json(table)
        return
    ids = [r.info.run_id for r in found]
    columns = ["", *(f"{r.info.run_name} ({r.info.run_id[:8]})" for r in found)]
    rows: list[list[Any]] = []
    for kind in ("params", "metrics"):
        for key, values in table[kind].items():
            rows.append([f"{kind[:-1]} {key}", *(values[i] for i in ids)])
    _table("comparison", columns, rows)


def register(app: typer.Typer) -> None:
    app.add_typer(runs, name="runs")
