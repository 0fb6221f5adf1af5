"""`corridor jobs|sites|energy`: what needs no server here, and the commands against a live one."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from corridor.compute.cli import exit_code_of, parse_deadline
from corridor.compute.schemas import JobOut
from tests.cli.test_cli import Cli
from tests.conftest import LiveServer, module_server, run_cli

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def _job(**values: object) -> JobOut:
    fields: dict[str, object] = {
        "id": "0" * 32,
        "project": "default",
        "name": None,
        "kind": "command",
        "state": "succeeded",
        "command": ["true"],
        "function": None,
        "env_names": [],
        "snapshot": None,
        "has_input": False,
        "has_result": False,
        "cpus": 1.0,
        "memory_bytes": 0,
        "gpus": 0.0,
        "gpu_type": None,
        "workers": 1,
        "priority": 0,
        "site_pin": None,
        "objective": "time",
        "datasets": [],
        "regions": None,
        "deadline": None,
        "deferrable": False,
        "not_before": None,
        "retries": 0,
        "backoff_s": 1.0,
        "timeout_s": None,
        "cancel_requested": False,
        "attempts": 1,
        "site": "local",
        "run_id": None,
        "created_by": "admin",
        "created_at": NOW,
        "placed_at": NOW,
        "started_at": NOW,
        "finished_at": NOW,
        "exit_code": 0,
        "error": None,
        "energy_j": None,
        "energy_method": None,
        "carbon_g": None,
        "cost": None,
    }
    fields.update(values)
    return JobOut.model_validate(fields)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-01T18:00:00Z", dt.datetime(2026, 5, 1, 18, tzinfo=dt.UTC)),
        ("2026-05-01T18:00:00", dt.datetime(2026, 5, 1, 18, tzinfo=dt.UTC)),
        ("2026-05-01T20:00:00+02:00", dt.datetime(2026, 5, 1, 18, tzinfo=dt.UTC)),
        ("2h", NOW + dt.timedelta(hours=2)),
        ("90m", NOW + dt.timedelta(minutes=90)),
    ],
)
def test_deadline_is_a_utc_time_or_a_duration_from_now(text: str, expected: dt.datetime) -> None:
    assert parse_deadline(text, NOW) == expected


def test_a_deadline_that_is_neither_is_a_usage_error() -> None:
    with pytest.raises(typer.BadParameter, match="neither a time"):
        parse_deadline("tomorrow-ish", NOW)


@pytest.mark.parametrize(
    ("state", "exit_code", "expected"),
    [
        ("succeeded", 0, 0),
        ("failed", 3, 3),
        ("failed", 300, 255),
        ("cancelled", -15, 143),  # killed by SIGTERM, as a shell reports it
        ("failed", None, 1),  # lost worker, no exit code
        ("cancelled", None, 1),
        ("succeeded", None, 0),  # a function job
    ],
)
def test_wait_exits_as_the_job_did(state: str, exit_code: int | None, expected: int) -> None:
    assert exit_code_of(_job(state=state, exit_code=exit_code)) == expected


def test_site_and_objective_together_are_refused_before_anything_is_sent(home: Path) -> None:
    result = run_cli(
        home, "jobs", "submit", "--site", "a", "--objective", "cost", "--", "echo", "hi"
    )
    assert result.returncode == 2
    assert "give --site or --objective, not both" in result.stderr


def test_the_first_word_that_is_not_an_option_ends_the_options(home: Path) -> None:
    # "-c" belongs to the command: it reaches the check of --objective, not an option error.
    result = run_cli(home, "jobs", "submit", "--objective", "speed", "python", "-c", "pass")
    assert result.returncode == 2
    assert "--objective must be cost, carbon or time" in result.stderr


def test_unknown_objective_and_report_key_are_usage_errors(home: Path) -> None:
    result = run_cli(home, "jobs", "submit", "--objective", "speed", "--", "true")
    assert result.returncode == 2
    assert "--objective must be cost, carbon or time" in result.stderr
    result = run_cli(home, "energy", "report", "--by", "week")
    assert result.returncode == 2
    assert "--by must be project, site, day or run" in result.stderr


def test_every_command_the_issue_names_is_there(home: Path) -> None:
    for group, commands in (
        ("jobs", ["submit", "ls", "show", "logs", "wait", "cancel", "explain"]),
        ("sites", ["ls"]),
        ("energy", ["report"]),
    ):
        result = run_cli(home, group, "--help")
        assert result.returncode == 0, result.stderr
        for command in commands:
            assert f" {command} " in result.stdout


# Against a live server: the scheduler, the local executor and real worker processes.


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory, "compute-cli") as live:
        # The first submit creates the default project; tests that only list need it already.
        with live.client() as http:
            http.post("/api/v1/projects", json={"name": "default"}).raise_for_status()
        yield live


@pytest.fixture
def over_http(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("CORRIDOR_URL", server.url)
    monkeypatch.setenv("CORRIDOR_TOKEN", server.token)
    return Cli(server.home)


def _python(code: str) -> list[str]:
    return ["--", sys.executable, "-c", code]


def _submit(cli: Cli, *args: str) -> str:
    # --json before the command: everything after -- is the job's.
    job = json.loads(cli.ok("jobs", "submit", "--no-snapshot", "--json", *args))
    assert job["state"] == "queued"
    return str(job["id"])


def test_submit_wait_logs_show_ls_and_explain(over_http: Cli) -> None:
    cli = over_http
    code = (
        "import sys; sys.stdout.write('out 1\\n'); sys.stdout.flush(); "
        "sys.stderr.write('no newline'); sys.exit(3)"
    )
    job_id = _submit(cli, "--name", "three", "--cpus", "0.5", "--memory", "64M", *_python(code))
    waited = cli.run("jobs", "wait", job_id)
    assert waited.returncode == 3, waited.stderr
    assert f"job {job_id} failed (exit code 3)" in waited.stdout
    logs = cli.run("jobs", "logs", job_id)
    assert logs.returncode == 0
    assert logs.stdout == "out 1\nno newline"
    decorated = cli.ok("jobs", "logs", job_id, "--decorate")
    assert decorated.startswith(f"==> job {job_id} <==\nout 1\n")
    assert decorated.endswith(f"==> job {job_id} failed, exit code 3 <==\n")
    shown = cli.json("jobs", "show", job_id)
    assert (shown["state"], shown["exit_code"], shown["name"]) == ("failed", 3, "three")
    assert (shown["cpus"], shown["memory_bytes"]) == (0.5, 64 << 20)
    assert shown["energy_method"]
    text = cli.ok("jobs", "show", job_id)
    assert "exit code  3" in text
    listed = cli.json("jobs", "ls")
    assert job_id in [j["id"] for j in listed]
    explained = cli.json("jobs", "explain", job_id)
    assert explained["chosen"] == "local"
    assert [c["site"] for c in explained["candidates"]] == ["local"]
    assert "chosen: local" in cli.ok("jobs", "explain", job_id)


def test_a_succeeding_job_exits_zero_and_is_in_the_energy_report(over_http: Cli) -> None:
    cli = over_http
    job_id = _submit(cli, *_python("print(sum(range(10**6)))"))
    assert cli.run("jobs", "wait", job_id).returncode == 0
    assert cli.ok("jobs", "logs", job_id) == f"{sum(range(10**6))}\n"
    rows = cli.json("energy", "report", "--by", "site")
    (local,) = [r for r in rows if r["key"] == "local"]
    assert local["jobs"] >= 1
    assert local["energy_j"] > 0
    assert local["methods"]
    assert "energy by project" in cli.ok("energy", "report")


def test_follow_prints_everything_until_the_job_ends(over_http: Cli) -> None:
    cli = over_http
    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.3)\n"
    job_id = _submit(cli, *_python(code))
    assert cli.ok("jobs", "logs", job_id, "--follow") == "0\n1\n2\n"


def test_cancel_stops_a_running_job(over_http: Cli) -> None:
    cli = over_http
    job_id = _submit(cli, *_python("import time; print('up', flush=True); time.sleep(120)"))
    give_up = time.monotonic() + 60
    while cli.ok("jobs", "logs", job_id) != "up\n":
        assert time.monotonic() < give_up, cli.ok("jobs", "show", job_id)
        time.sleep(0.1)
    timed_out = cli.run("jobs", "wait", job_id, "--timeout", "200ms")
    assert timed_out.returncode == 124
    assert f"job {job_id} is still running after 200ms" in timed_out.stderr
    cancelled = cli.json("jobs", "cancel", job_id)
    assert cancelled["cancel_requested"]
    waited = cli.run("jobs", "wait", job_id, "--json")
    assert json.loads(waited.stdout)["state"] == "cancelled"
    assert waited.returncode != 0


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--gpus", "64"], "GPU"),
        (["--site", "nowhere"], "nowhere"),
        (["--deadline", "2020-01-01T00:00:00Z"], "deadline"),
        (["--memory", "lots"], "memory"),
        (["--workers", "500"], "500 workers at one site"),
    ],
)
def test_a_refused_submit_exits_1_naming_the_problem_and_queues_nothing(
    over_http: Cli, args: list[str], expect: str
) -> None:
    cli = over_http
    before = len(cli.json("jobs", "ls", "--limit", "1000"))
    done = cli.run("jobs", "submit", "--no-snapshot", *args, "--", "true")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert expect in done.stderr
    assert len(cli.json("jobs", "ls", "--limit", "1000")) == before


def test_sites_ls_shows_the_local_site(over_http: Cli) -> None:
    cli = over_http
    (site,) = cli.json("sites", "ls")
    assert site["name"] == "local"
    assert site["capacity"]["cpus"] > 0
    assert "local" in cli.ok("sites", "ls")


def test_sites_ls_notes_an_hourly_file_that_has_run_out(over_http: Cli, server: LiveServer) -> None:
    cli = over_http
    (server.home / "carbon.csv").write_text(
        "timestamp,value\n2020-01-01T00:00:00Z,300\n2020-01-01T01:00:00Z,123\n"
    )
    config = server.home / "corridor.toml"
    config.write_text('[sites.local]\ncarbon_intensity_file = "carbon.csv"\n')
    try:
        (site,) = cli.json("sites", "ls")
        assert site["carbon_g_per_kwh_now"] == 123.0
        (note,) = site["notes"]
        assert "covers 2020-01-01T00:00:00Z to 2020-01-01T02:00:00Z" in note
        assert "using its last value, 123" in note
        assert "note: local: carbon intensity file" in cli.ok("sites", "ls")
    finally:
        config.unlink()
    (site,) = cli.json("sites", "ls")
    assert site["notes"] == []


def test_a_malformed_sites_table_is_named_at_submit_and_nothing_is_queued(home: Path) -> None:
    from sqlalchemy import func, select

    from corridor.compute.models import Job
    from corridor.config import Settings
    from corridor.home import init_home
    from corridor.runtime import Runtime

    init_home(Settings(home=home))
    with (home / "corridor.toml").open("a") as toml:
        toml.write('\n[sites.gpu]\nexecutor = "local"\ncpus = "lots"\n')
    # In-process, the jobs go to a loopback server, whose scheduler reads the sites as it starts.
    result = run_cli(home, "jobs", "submit", "--no-snapshot", "--", "echo", "hi")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "corridor.toml: [sites.gpu] cpus: must be a number, not 'lots'" in result.stderr
    assert "Traceback" not in result.stderr
    runtime = Runtime(Settings(home=home))
    try:
        with runtime.db.read() as session:
            assert session.scalar(select(func.count()).select_from(Job)) == 0
    finally:
        runtime.close()
