"""`corridor jobs ...`, `corridor sites ls` and `corridor energy report`.

Commands talk to the server through the SDK (`client.compute`), like every other group, and
import it inside each command so that `corridor --help` stays fast. A job's logs are written to
standard output byte for byte, as the job wrote them; `jobs wait` ends with the job's own exit
code, so a script can run `corridor jobs wait ID && next-step`.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from corridor.console import print_json, print_rows, say

if TYPE_CHECKING:
    from corridor.client.compute import ComputeClient
    from corridor.compute.schemas import JobOut, Objective, ReportKey

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
PROJECT = typer.Option(
    None, "--project", "-p", help="The project (default: the project `default`)."
)
DEFAULT_PROJECT = "default"
"""The project of commands given no --project, as `corridor runs ls` and MLflow's default
experiment use: one rule for the whole CLI."""
WAIT_TIMED_OUT = 124
"""The exit code of `jobs wait --timeout` when the job has not ended (as timeout(1) uses)."""

jobs = typer.Typer(help="Submit, list, follow and cancel compute jobs.", no_args_is_help=True)
sites = typer.Typer(help="The sites jobs run on.", no_args_is_help=True)
energy = typer.Typer(help="Energy, carbon and cost of jobs.", no_args_is_help=True)


@contextmanager
def _client() -> Iterator[ComputeClient]:
    from corridor.client.client import Client

    with Client() as client:
        yield client.compute


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{what} {item!r} must look like KEY=VALUE")
        out[key] = value
    return out


def parse_deadline(text: str, now: dt.datetime) -> dt.datetime:
    """An ISO 8601 time (UTC when it names no zone), or a duration from ``now`` ("2h", "90m")."""
    from corridor.compute.sansio.units import parse_duration
    from corridor.errors import InvalidInput

    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            return now + dt.timedelta(seconds=parse_duration(text, "--deadline"))
        except InvalidInput:
            raise typer.BadParameter(
                f"{text!r} is neither a time such as 2026-05-01T18:00:00Z nor a duration "
                "from now such as 2h or 90m"
            ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _command_text(job: JobOut) -> str:
    import shlex

    if job.command is not None:
        return shlex.join(job.command)
    if job.function is not None:
        return f"{job.function.module}:{job.function.qualname}"
    return ""


def _say_job(job: JobOut) -> None:
    from corridor.compute.sansio.units import format_bytes

    rows: list[tuple[str, Any]] = [
        ("id", job.id),
        ("name", job.name),
        ("project", job.project),
        ("state", job.state + (" (cancel requested)" if job.cancel_requested else "")),
        (job.kind, _command_text(job)),
        (
            "resources",
            f"{job.cpus:g} CPUs, {format_bytes(job.memory_bytes)}, {job.gpus:g} GPUs"
            + (f" ({job.gpu_type})" if job.gpu_type else "")
            + (f" x {job.workers} workers" if job.workers != 1 else ""),
        ),
        ("placement", f"pinned to {job.site_pin}" if job.site_pin else f"by {job.objective}"),
        ("site", job.site),
        ("attempts", f"{job.attempts} (retries allowed: {job.retries})"),
        ("deadline", _time(job.deadline)),
        ("created", f"{_time(job.created_at)} by {job.created_by}"),
        ("started", _time(job.started_at)),
        ("finished", _time(job.finished_at)),
        ("exit code", job.exit_code),
        ("error", job.error),
        ("run", job.run_id),
        ("datasets", ", ".join(job.datasets)),
        ("energy", _energy_text(job)),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        if value not in (None, ""):
            say(f"{key:<{width}}  {value}")


def _energy_text(job: JobOut) -> str | None:
    if job.energy_j is None:
        return None
    parts = [f"{job.energy_j:,.1f} J ({job.energy_method})"]
    if job.carbon_g is not None:
        parts.append(f"{job.carbon_g:,.3f} gCO2e")
    if job.cost is not None:
        parts.append(f"cost {job.cost:,.4f}")
    return ", ".join(parts)


def exit_code_of(job: JobOut) -> int:
    """The shell exit code that stands for how ``job`` ended: its own exit code (a signal N as
    128 + N, as a shell reports it), 0 for a success without one, 1 for any other ending."""
    if job.exit_code is not None:
        code = job.exit_code
        return 128 - code if code < 0 else min(code, 255)
    return 0 if job.state == "succeeded" else 1


@jobs.command(
    "submit",
    context_settings={"allow_interspersed_args": False},
)
def submit(
    command: list[str] = typer.Argument(..., help="The command and its arguments (after --)."),
    cpus: float = typer.Option(1.0, "--cpus", help="CPUs per worker (fractions allowed)."),
    memory: str = typer.Option("0", "--memory", help="Memory per worker, e.g. 512M or 2G."),
    gpus: float = typer.Option(0.0, "--gpus", help="GPUs per worker: whole, or e.g. 0.5."),
    gpu_type: str | None = typer.Option(None, "--gpu-type", help="A GPU model, e.g. A100."),
    workers: int = typer.Option(
        1, "--workers", help="Gang size: this many workers start together at one site, or none."
    ),
    priority: int = typer.Option(0, "--priority", help="-100 to 100; higher runs first."),
    site: str | None = typer.Option(None, "--site", help="Run at this site."),
    objective: str | None = typer.Option(
        None, "--objective", help="What placement minimises: cost, carbon or time."
    ),
    deadline: str | None = typer.Option(
        None, "--deadline", help="When it must be done: a UTC time or a duration from now."
    ),
    deferrable: bool = typer.Option(
        False, "--deferrable", help="May wait for low-carbon hours before --deadline."
    ),
    retries: int = typer.Option(0, "--retries", help="Tries after the first (0 to 20)."),
    timeout: str | None = typer.Option(None, "--timeout", help="Kill it after e.g. 10m."),
    name: str | None = typer.Option(None, "--name", help="A name to find it by."),
    env: list[str] = typer.Option([], "--env", "-e", help="KEY=VALUE for the job."),
    dataset: list[str] = typer.Option([], "--dataset", help="A dataset it reads (sales@3)."),
    run_id: str | None = typer.Option(None, "--run", help="Link to this tracking run."),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="The folder whose snapshot the job runs in (default: here)."
    ),
    snapshot: bool = typer.Option(
        True, "--snapshot/--no-snapshot", help="Ship the folder's code (--no-snapshot: none)."
    ),
    project: str | None = PROJECT,
    as_json: bool = typer.Option(False, "--json", help="Print the job as JSON."),
) -> None:
    """Queue a command: corridor jobs submit [OPTIONS] -- CMD ARGS...

    The command runs in a snapshot of the working folder (its .gitignore honoured). A request no
    site can meet (more GPUs than any site has, an unknown site, a deadline in the past) is refused
    with the reason, and nothing is queued.
    """
    if site is not None and objective is not None:
        raise typer.BadParameter("give --site or --objective, not both")
    if objective not in (None, "cost", "carbon", "time"):
        raise typer.BadParameter(f"--objective must be cost, carbon or time, not {objective!r}")
    when = parse_deadline(deadline, dt.datetime.now(dt.UTC)) if deadline is not None else None
    with _client() as client:
        job = client.submit_command(
            list(command),
            snapshot=snapshot,
            workdir=workdir,
            project=project,
            cpus=cpus,
            memory=memory,
            gpus=gpus,
            gpu_type=gpu_type,
            workers=workers,
            priority=priority,
            site=site,
            objective=cast("Objective | None", objective),
            deadline=when,
            deferrable=deferrable,
            retries=retries,
            timeout=timeout,
            name=name,
            env=_pairs(env, "--env"),
            datasets=list(dataset),
            run_id=run_id,
        ).job
    if as_json:
        print_json(job)
    else:
        say(f"submitted job {job.id} to project {job.project} ({job.state})")


@jobs.command("ls")
def ls(
    project: str | None = PROJECT,
    state: str | None = typer.Option(None, "--state", help="Only jobs in this state."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = JSON,
) -> None:
    """List a project's jobs, newest first."""
    name = project or DEFAULT_PROJECT
    with _client() as client:
        found = client.jobs(name, state=state, limit=limit)
    if as_json:
        print_json(found)
        return
    rows = [
        (
            j.id,
            j.name,
            j.state,
            j.site,
            j.attempts,
            j.exit_code,
            _time(j.created_at),
            _command_text(j),
        )
        for j in found
    ]
    columns = ["id", "name", "state", "site", "attempts", "exit", "created", "command"]
    print_rows(f"jobs in {name}", columns, rows)


@jobs.command("show")
def show(job_id: str, as_json: bool = JSON) -> None:
    """Show one job: its spec, state, placement, timings and energy."""
    with _client() as client:
        job = client.job(job_id)
    if as_json:
        print_json(job)
    else:
        _say_job(job)


@jobs.command("logs")
def logs(
    job_id: str,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until it ends."),
    attempt: int | None = typer.Option(None, "--attempt", help="This attempt (default: last)."),
    decorate: bool = typer.Option(
        False, "--decorate", help="Add a line naming the job and attempt, and how it ended."
    ),
) -> None:
    """Print a job's output exactly as it wrote it (standard output and error, interleaved)."""
    out = sys.stdout
    out.flush()
    with _client() as client:
        if decorate:
            say(f"==> job {job_id}" + (f", attempt {attempt}" if attempt else "") + " <==")
            out.flush()
        chunks = (
            client.follow_logs(job_id, attempt=attempt)
            if follow
            else _all_logs(client, job_id, attempt)
        )
        for chunk in chunks:
            out.buffer.write(chunk)
            out.buffer.flush()
        if decorate:
            job = client.job(job_id)
            code = f", exit code {job.exit_code}" if job.exit_code is not None else ""
            say(f"==> job {job.id} {job.state}{code} <==")


def _all_logs(client: ComputeClient, job_id: str, attempt: int | None) -> Iterator[bytes]:
    """Everything written so far, read until a read brings nothing new."""
    offset = 0
    while True:
        part = client.logs(job_id, offset=offset, attempt=attempt)
        if not part.data:
            return
        yield part.data
        offset = part.next_offset
        if attempt is None:
            attempt = part.attempt  # stay on one attempt if a retry starts meanwhile


@jobs.command("wait")
def wait(
    job_id: str,
    timeout: str | None = typer.Option(
        None, "--timeout", help=f"Give up after e.g. 10m (exit {WAIT_TIMED_OUT})."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the ended job as JSON."),
) -> None:
    """Wait for a job to end, then exit with its exit code (a signal N as 128 + N)."""
    from corridor.compute.sansio.states import TERMINAL
    from corridor.compute.sansio.units import parse_duration

    timeout_s = parse_duration(timeout, "--timeout") if timeout is not None else None
    with _client() as client:
        job = client.wait(job_id, timeout_s=timeout_s)
    if as_json:
        print_json(job)
    if job.state not in TERMINAL:
        if not as_json:
            sys.stderr.write(f"error: job {job_id} is still {job.state} after {timeout}\n")
        raise typer.Exit(WAIT_TIMED_OUT)
    if not as_json:
        ending = f"exit code {job.exit_code}" if job.exit_code is not None else "no exit code"
        say(f"job {job.id} {job.state} ({ending})" + (f": {job.error}" if job.error else ""))
    raise typer.Exit(exit_code_of(job))


@jobs.command("cancel")
def cancel(job_id: str, as_json: bool = JSON) -> None:
    """Cancel a job: a waiting one at once; a running one is stopped with its whole tree."""
    with _client() as client:
        job = client.cancel(job_id)
    if as_json:
        print_json(job)
    elif job.cancel_requested and job.state == "running":
        say(f"cancel requested for job {job.id}: stopping its processes")
    else:
        say(f"job {job.id} is {job.state}")


@jobs.command("explain")
def explain(job_id: str, as_json: bool = JSON) -> None:
    """Why the scheduler chose the job's site (or why it waits): every candidate and its score."""
    with _client() as client:
        out = client.explain(job_id)
    if as_json:
        print_json(out)
        return
    say(f"job {out.job_id}, objective {out.objective}")
    if out.chosen is not None:
        start = f", to start at {_time(out.start_at)}" if out.start_at else ""
        say(f"chosen: {out.chosen}{start}")
    else:
        say("chosen: none yet")
    say(f"reason: {out.reason}")
    rows = [
        (
            c.site,
            "yes" if c.feasible else "no",
            None if c.score is None else f"{c.score:.4g}",
            None if c.cost is None else f"{c.cost:.4g}",
            None if c.carbon_g is None else f"{c.carbon_g:.4g}",
            None if c.wait_s is None else f"{c.wait_s:.0f}",
            c.why,
        )
        for c in out.candidates
    ]
    print_rows("", ["site", "feasible", "score", "cost", "carbon g", "wait s", "why"], rows)


@sites.command("ls")
def sites_ls(as_json: bool = JSON) -> None:
    """List the sites: capacity, what is in use, and price and carbon intensity now."""
    from corridor.compute.sansio.units import format_bytes

    with _client() as client:
        found = client.sites()
    if as_json:
        print_json(found)
        return
    rows = [
        (
            s.name,
            s.executor,
            s.region,
            f"{s.used.cpus:g}/{s.capacity.cpus:g}",
            f"{format_bytes(s.used.memory_bytes)}/{format_bytes(s.capacity.memory_bytes)}",
            f"{s.used.gpus:g}/{s.capacity.gpus:g}",
            ", ".join(s.gpu_types),
            f"{s.price_per_kwh_now:g}",
            f"{s.carbon_g_per_kwh_now:g}",
            f"{s.pue:g}",
            f"{s.cost_per_hour:g}",
            "yes" if s.up else "no",
        )
        for s in found
    ]
    columns = [
        "site",
        "executor",
        "region",
        "cpus",
        "memory",
        "gpus",
        "gpu types",
        "price/kWh",
        "gCO2e/kWh",
        "pue",
        "cost/h",
        "up",
    ]
    print_rows("", columns, rows)
    for s in found:
        for note in s.notes:
            say(f"note: {s.name}: {note}")


@energy.command("report")
def energy_report(
    by: str = typer.Option("project", "--by", help="project, site, day or run."),
    project: str | None = typer.Option(
        None, "--project", "-p", help="Only this project (default: every project you can read)."
    ),
    as_json: bool = JSON,
) -> None:
    """Energy, carbon and cost of jobs, summed by project, site, UTC day or tracking run."""
    if by not in ("project", "site", "day", "run"):
        raise typer.BadParameter(f"--by must be project, site, day or run, not {by!r}")
    with _client() as client:
        rows = client.energy_report(by=cast("ReportKey", by), project=project)
    if as_json:
        print_json(rows)
        return
    table = [
        (
            r.key,
            r.jobs,
            f"{r.energy_j / 3.6e6:,.6f}",
            f"{r.carbon_g:,.3f}",
            f"{r.cost:,.4f}",
            ", ".join(r.methods),
        )
        for r in rows
    ]
    print_rows(f"energy by {by}", [by, "jobs", "kWh", "gCO2e", "cost", "methods"], table)


def register(app: typer.Typer) -> None:
    app.add_typer(jobs, name="jobs")
    app.add_typer(sites, name="sites")
    app.add_typer(energy, name="energy")
