"""`corridor run` and `corridor pipelines ...`: importing a pipeline file (no server), then the
commands against the folder's live server, in-process (`run_cli`), with output that is not a
terminal (so `corridor run` prints plain lines)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from rich.console import Console

from corridor.client.client import Client
from corridor.errors import InvalidInput, NotFound
from corridor.pipelines.cli.view import LiveView
from corridor.pipelines.pipeline_files import load_pipeline_file, module_name_of, root_folder
from tests.conftest import LiveServer, run_cli
from tests.pipelines.conftest import WriteModule

TWO = """
from corridor.pipelines import pipeline, step

@step(in_process=True)
def double(n: int) -> int:
    return 2 * n

@pipeline
def first(n: int = 1) -> int:
    return double(n)

@pipeline(name="second")
def other(n: int = 2) -> int:
    return double(n)
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh work folder as the current folder; sys.path as it was afterwards."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return folder


def write(folder: Path, relative: str, source: str) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def unique() -> str:
    return f"pf_{uuid.uuid4().hex[:10]}"


def test_a_file_under_the_current_folder_is_named_from_it(work: Path) -> None:
    package = unique()
    write(work, f"{package}/__init__.py", "")
    path = write(work, f"{package}/flows/etl.py", TWO)
    assert root_folder(path, work) == work
    loaded = load_pipeline_file(Path(f"{package}/flows/etl.py"))
    assert loaded.root == work.resolve()
    assert loaded.module_name == f"{package}.flows.etl"
    assert [p.name for p in loaded.pipelines] == ["first", "second"]
    assert loaded.choose("second").name == "second"


def test_a_file_outside_the_current_folder_is_named_from_its_own_folder(
    work: Path, tmp_path: Path
) -> None:
    name = unique()
    path = write(tmp_path / "elsewhere", f"{name}.py", TWO)
    assert root_folder(path, work) == path.parent.resolve()
    assert load_pipeline_file(path).module_name == name


def test_a_src_layout_file_is_named_without_src(work: Path) -> None:
    path = write(work, "src/pkg/flow.py", "")
    assert module_name_of(path, work) == ("pkg.flow", (work / "src").resolve())


def test_several_pipelines_need_a_name_and_an_unknown_name_lists_them(work: Path) -> None:
    loaded = load_pipeline_file(write(work, f"{unique()}.py", TWO))
    with pytest.raises(InvalidInput, match=r"2 pipelines \(first, second\).*--pipeline NAME"):
        loaded.choose(None)
    with pytest.raises(NotFound, match="has no pipeline 'third'; it has: first, second"):
        loaded.choose("third")


def test_a_file_without_a_pipeline_says_how_to_make_one(work: Path) -> None:
    loaded = load_pipeline_file(write(work, f"{unique()}.py", "x = 1\n"))
    with pytest.raises(InvalidInput, match="defines no pipeline: decorate a function"):
        loaded.choose(None)


def test_a_pipeline_imported_from_elsewhere_is_not_the_files_own(work: Path) -> None:
    lib = unique()
    write(work, f"{lib}.py", TWO)
    loaded = load_pipeline_file(
        write(
            work,
            f"{unique()}.py",
            f"""
            from corridor.pipelines import pipeline
            from {lib} import first

            @pipeline
            def mine() -> int:
                return 1
            """,
        )
    )
    assert [p.name for p in loaded.pipelines] == ["mine"]


def test_a_file_whose_name_is_taken_by_an_installed_module_is_refused(work: Path) -> None:
    with pytest.raises(InvalidInput, match=r"would be imported as module 'json'.*rename the file"):
        load_pipeline_file(write(work, "json.py", TWO))


def test_an_import_that_fails_shows_the_files_own_traceback(work: Path) -> None:
    path = write(work, f"{unique()}.py", "import math\n\nmath.nope()\n")
    with pytest.raises(InvalidInput) as caught:
        load_pipeline_file(path)
    message = caught.value.message
    assert "importing the pipeline file" in message
    assert f'File "{path.resolve()}", line 3' in message
    assert "AttributeError" in message
    assert "importlib" not in message


def test_a_missing_file_says_corridor_run_is_not_corridor_runs(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "home", "run", "nope.py")
    assert result.returncode == 1
    assert "no pipeline file 'nope.py'" in result.stderr
    assert "tracking runs are under 'corridor runs'" in result.stderr


def test_a_wrongly_typed_parameter_exits_naming_it_before_anything_runs(work: Path) -> None:
    path = write(work, f"{unique()}.py", TWO)
    result = run_cli(work / "home", "run", str(path), "--pipeline", "first", "--param", "n=abc")
    assert result.returncode == 1
    assert "parameter 'n' must be an int, got 'abc'" in result.stderr


def test_the_pipelines_group_lists_its_commands(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "home", "pipelines", "--help")
    assert result.returncode == 0
    for command in ("ls", "runs", "show", "retry", "schedule", "trigger", "start", "logs"):
        assert command in result.stdout


# Against the live server.

FLOW = """
from pathlib import Path
from corridor.pipelines import pipeline, step

@step(in_process=True)
def load(n: int) -> list[int]:
    print("loading", n)
    return list(range(n))

@step(in_process=True)
def score(row: int, factor: float) -> float:
    return row * factor

@step(in_process=True)
def total(scores: list[float]) -> dict[str, float]:
    return {"total": sum(scores), "count": len(scores)}

@pipeline
def flow(n: int = 5, factor: float = 2.0) -> dict[str, float]:
    rows = load(n)
    return total(score.map(rows, factor=factor))
"""

FAILING = """
from pathlib import Path
from corridor.pipelines import pipeline, step

@step(in_process=True)
def load(n: int) -> list[int]:
    return list(range(n))

@step(in_process=True)
def check(rows: list[int], marks: str) -> int:
    if not Path(marks).exists():
        raise ValueError("boom: no marks yet")
    return len(rows)

@pipeline
def fragile(n: int = 3, marks: str = "") -> int:
    return check(load(n), marks)
"""

WATCH = """
from corridor.pipelines import pipeline, step

@step(in_process=True)
def echo(ref: str, n: int) -> str:
    return f"{ref} x{n}"

@pipeline
def watch(ref: str, n: int = 1) -> str:
    return echo(ref, n)
"""

JOB_FLOW = """
from corridor.pipelines import pipeline, step

@step
def add(n: int, k: int) -> int:
    return n + k

@pipeline
def jobbed(n: int = 1) -> int:
    return add(n, 10)
"""


@dataclass(frozen=True)
class Flow:
    """A pipeline file written into a fresh package under the current folder, and the CLI."""

    path: str
    project: str
    home: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.home, *args)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli("run", self.path, "-p", self.project, *args)

    def json(self, *args: str) -> Any:
        result = self.cli(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def over_http(pipelines_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    monkeypatch.setenv("CORRIDOR_URL", pipelines_server.url)
    monkeypatch.setenv("CORRIDOR_TOKEN", pipelines_server.token)
    return pipelines_server


@pytest.fixture
def flow_file(
    over_http: LiveServer,
    project: str,
    pipeline_module: WriteModule,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[str], Flow]:
    def write(source: str) -> Flow:
        module = pipeline_module(source)
        file = Path(str(module.__file__))
        monkeypatch.chdir(file.parent.parent)  # the work folder: the module is pkg.flow there
        return Flow(f"{file.parent.name}/{file.name}", project, over_http.home)

    return write


def test_a_run_prints_a_line_per_step_then_the_value_and_a_rerun_is_cached(
    flow_file: Callable[[str], Flow],
) -> None:
    flow = flow_file(FLOW)
    first = flow.run("--param", "n=4")
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert "step load running" in lines
    assert any(re.fullmatch(r"step load succeeded \d+\.\d+s", line) for line in lines)
    assert any(line.startswith("step score[3] succeeded") for line in lines)
    assert any(line.endswith("(4 items: 4/4 done)") for line in lines if "step score " in line)
    assert re.search(r"pipeline run 1 of flow succeeded in \S+ \(\w+\)", first.stdout)
    assert json.loads(first.stdout[first.stdout.index("{") :]) == {"total": 12.0, "count": 4}

    second = flow.run("--param", "n=4")
    assert second.returncode == 0, second.stderr
    assert "step load cached" in second.stdout.splitlines()
    assert "step total cached" in second.stdout.splitlines()
    assert "pipeline run 2 of flow succeeded" in second.stdout

    fresh = flow.run("--param", "n=4", "--no-cache")
    assert "step load cached" not in fresh.stdout
    assert "step load running" in fresh.stdout


def test_json_prints_only_the_value_and_the_run_id_on_stderr(
    flow_file: Callable[[str], Flow],
) -> None:
    flow = flow_file(FLOW)
    result = flow.run("--param", "n=3", "--param", "factor=0.5", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"total": 1.5, "count": 3}
    run_id = re.search(r"succeeded in \S+ \((\w+)\)", result.stderr)
    assert run_id is not None
    assert "step load succeeded" in result.stderr  # the view went to standard error


def test_a_failing_step_prints_its_traceback_and_exits_1(
    flow_file: Callable[[str], Flow], tmp_path: Path
) -> None:
    flow = flow_file(FAILING)
    result = flow.run("--param", f"marks={tmp_path / 'marks'}")
    assert result.returncode == 1
    out = result.stdout
    assert "step check failed: ValueError: boom: no marks yet" in out
    assert "Traceback (most recent call last):" in out
    assert 'raise ValueError("boom: no marks yet")' in out
    assert "pipeline run 1 of fragile failed" in result.stderr
    assert "step 'check' failed: ValueError: boom" in result.stderr


def test_ls_runs_show_and_logs_describe_what_ran(
    flow_file: Callable[[str], Flow], tmp_path: Path
) -> None:
    flow = flow_file(FLOW)
    assert flow.run("--param", "n=3").returncode == 0
    broken = flow_file(FAILING)
    assert broken.run("--param", f"marks={tmp_path / 'none'}").returncode == 1

    listed = flow.json("pipelines", "ls", "-p", flow.project)
    assert sorted(p["name"] for p in listed) == ["flow", "fragile"]
    table = flow.cli("pipelines", "ls", "-p", flow.project)
    assert "flow" in table.stdout
    assert "succeeded" in table.stdout

    runs = flow.json("pipelines", "runs", "fragile", "-p", flow.project)
    assert [(r["pipeline"], r["state"]) for r in runs] == [("fragile", "failed")]
    everything = flow.json("pipelines", "runs", "-p", flow.project, "--state", "succeeded")
    assert [r["pipeline"] for r in everything] == ["flow"]

    shown = flow.cli("pipelines", "show", runs[0]["id"])
    assert shown.returncode == 0, shown.stderr
    assert "state     failed" in shown.stdout
    assert "load  succeeded" in shown.stdout
    assert "check  failed" in shown.stdout
    assert "step check failed: ValueError: boom: no marks yet" in shown.stderr
    assert "Traceback (most recent call last):" in shown.stderr

    ok = everything[0]["id"]
    tree = flow.cli("pipelines", "show", ok).stdout
    assert "score  ▸ 3/3 done" in tree
    view = flow.json("pipelines", "show", ok)
    assert {s["key"] for s in view["steps"]} >= {"load", "score", "score[2]", "total"}
    logs = flow.cli("pipelines", "logs", ok, "load")
    assert logs.returncode == 0, logs.stderr
    assert "loading 3" in logs.stdout


def test_schedule_schedules_and_unschedule(flow_file: Callable[[str], Flow]) -> None:
    flow = flow_file(FLOW)
    made = flow.json(
        "pipelines", "schedule", flow.path, "--cron", "0 6 * * mon-fri",
        "--timezone", "Europe/Paris", "--param", "n=7", "-p", flow.project,
    )  # fmt: skip
    assert made["pipeline"] == "flow"
    assert (made["cron"], made["timezone"], made["params"]) == (
        "0 6 * * mon-fri",
        "Europe/Paris",
        {"n": 7},
    )
    again = flow.cli("pipelines", "schedule", "flow", "--cron", "@daily", "-p", flow.project)
    assert again.returncode == 0, again.stderr
    assert "scheduled flow: @daily (UTC), next run at" in again.stdout
    found = flow.json("pipelines", "schedules", "flow", "-p", flow.project)
    assert sorted(s["cron"] for s in found) == ["0 6 * * mon-fri", "@daily"]
    gone = flow.cli("pipelines", "unschedule", made["id"])
    assert gone.returncode == 0, gone.stderr
    left = flow.json("pipelines", "schedules", "flow", "-p", flow.project)
    assert [s["cron"] for s in left] == ["@daily"]
    bad = flow.cli("pipelines", "schedule", "flow", "--cron", "0 6 * *", "-p", flow.project)
    assert bad.returncode == 1
    assert "error:" in bad.stderr


def test_a_parameter_of_a_schedule_is_checked_by_the_registered_types(
    flow_file: Callable[[str], Flow],
) -> None:
    flow = flow_file(FLOW)
    assert flow.run("--param", "n=1").returncode == 0
    bad = flow.cli(
        "pipelines", "schedule", "flow", "--cron", "@daily", "--param", "n=x", "-p", flow.project
    )
    assert bad.returncode == 1
    assert "parameter 'n' must be an int, got 'x'" in bad.stderr
    unknown = flow.cli("pipelines", "schedule", "nope", "--cron", "@daily", "-p", flow.project)
    assert unknown.returncode == 1
    assert "pipeline 'nope' not found" in unknown.stderr


def test_retry_resumes_the_failed_step_and_follows_the_run_to_its_value(
    flow_file: Callable[[str], Flow], tmp_path: Path
) -> None:
    flow = flow_file(FAILING)
    marks = tmp_path / "marks"
    failed = flow.run("--param", f"marks={marks}", "--json")
    assert failed.returncode == 1
    run_id = flow.json("pipelines", "runs", "fragile", "-p", flow.project)[0]["id"]
    marks.write_text("")
    again = flow.cli("pipelines", "retry", run_id)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "step check succeeded" in again.stdout
    assert "step check failed" not in again.stdout
    assert again.stdout.rstrip().endswith("3")
    view = flow.json("pipelines", "show", run_id)
    assert {s["key"]: s["state"] for s in view["steps"]} == {
        "load": "succeeded",
        "check": "succeeded",
    }


def test_trigger_triggers_and_untrigger(
    flow_file: Callable[[str], Flow], admin_client: Client
) -> None:
    flow = flow_file(WATCH)
    assert flow.run("--param", "ref=none@0").returncode == 0
    admin_client.data.ingest(pa.table({"a": [1, 2]}), "sales", project=flow.project)
    made = flow.json(
        "pipelines", "trigger", "watch", "--dataset", "sales", "--param-name", "ref",
        "--param", "n=2", "-p", flow.project,
    )  # fmt: skip
    assert (made["kind"], made["dataset"], made["param"], made["params"]) == (
        "dataset",
        "sales",
        "ref",
        {"n": 2},
    )
    text = flow.cli("pipelines", "triggers", "watch", "-p", flow.project).stdout
    assert made["id"] in text
    assert "sales" in text
    both = flow.cli("pipelines", "trigger", "watch", "--dataset", "sales", "--model", "m")
    assert both.returncode == 2
    assert "give --dataset D, or --model M with --alias A" in both.stderr
    assert flow.cli("pipelines", "untrigger", made["id"]).returncode == 0
    assert flow.json("pipelines", "triggers", "watch", "-p", flow.project) == []


def test_start_runs_in_the_server_and_follow_prints_its_value(
    flow_file: Callable[[str], Flow],
) -> None:
    flow = flow_file(FLOW)
    assert flow.run("--param", "n=2").returncode == 0  # registers the pipeline and its code
    started = flow.cli(
        "pipelines", "start", "flow", "--param", "n=3", "-p", flow.project, "--follow"
    )
    assert started.returncode == 0, started.stdout + started.stderr
    assert "pipeline run 2 of flow succeeded" in started.stdout
    assert json.loads(started.stdout[started.stdout.index("{") :]) == {"total": 6.0, "count": 3}
    runs = flow.json("pipelines", "runs", "flow", "-p", flow.project)
    assert [(r["number"], r["trigger"], r["params"]["n"]) for r in runs] == [
        (2, "api", 3),
        (1, "cli", 2),
    ]


def test_cancel_ends_a_started_run(flow_file: Callable[[str], Flow]) -> None:
    flow = flow_file(FLOW)
    assert flow.run().returncode == 0
    started = flow.json("pipelines", "start", "flow", "-p", flow.project)
    cancelled = flow.json("pipelines", "cancel", started["id"])
    assert cancelled["id"] == started["id"]
    assert cancelled["state"] in ("cancelled", "succeeded")  # it may have ended already


def test_a_job_step_line_names_its_job(flow_file: Callable[[str], Flow]) -> None:
    flow = flow_file(JOB_FLOW)
    result = flow.run("--param", "n=3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^step add running \(job \w+\)$", result.stdout, re.MULTILINE)
    assert re.search(r"^step add succeeded \d", result.stdout, re.MULTILINE)
    assert result.stdout.rstrip().endswith("13")


INTERRUPTED = """
import os
import signal
import time
from corridor.pipelines import pipeline, step

@step(in_process=True)
def first(n: int) -> int:
    return n

@step(in_process=True)
def press_ctrl_c(n: int) -> int:
    os.kill(os.getpid(), signal.SIGINT)  # as a terminal's Ctrl-C reaches `corridor run`
    time.sleep(0.5)
    return n

@pipeline
def stopped(n: int = 1) -> int:
    return press_ctrl_c(first(n))
"""


def test_ctrl_c_exits_130_and_says_how_to_resume(flow_file: Callable[[str], Flow]) -> None:
    flow = flow_file(INTERRUPTED)
    result = flow.run()
    assert result.returncode == 130
    runs = flow.json("pipelines", "runs", "stopped", "-p", flow.project)
    run_id = runs[0]["id"]
    assert f"interrupted: pipeline run 1 of stopped ({run_id}) is cancelled" in result.stderr
    assert f"resume it with `corridor pipelines retry {run_id}`" in result.stderr
    assert "step first succeeded" in result.stdout
    assert runs[0]["state"] == "cancelled"  # so that retry may resume it at once
    steps = {s["key"]: s["state"] for s in flow.json("pipelines", "show", run_id)["steps"]}
    assert steps["first"] == "succeeded"


def test_the_live_view_draws_a_real_run(
    admin_client: Client, project: str, pipeline_module: WriteModule
) -> None:
    flow = pipeline_module(FLOW)
    console = Console(record=True, file=io.StringIO(), force_terminal=True, width=120)
    with LiveView(console) as view:
        result = admin_client.pipelines.run(
            flow.flow, {"n": 4}, project=project, on_event=view.handle
        )
    assert result.run.state == "succeeded"
    final = console.export_text().split("flow run 1")[-1]  # the last frame drawn
    assert "flow run 1  succeeded" in "flow run 1" + final
    assert "load  succeeded" in final
    assert "score  ▸ 4/4 done\n" in final
    assert "total  succeeded" in final


BRANCHES = """
import pyarrow as pa
from corridor.pipelines import pipeline, step

@step(in_process=True)
def broken(n: int) -> int:
    raise RuntimeError("left branch")

@step(in_process=True)
def fine(n: int) -> int:
    return n + 1

@step(in_process=True)
def table(n: int) -> pa.Table:
    return pa.table({"x": list(range(n))})

@pipeline
def branches(n: int = 2) -> dict[str, int]:
    return {"left": broken(n), "right": fine(n)}

@pipeline
def tabled(n: int = 3) -> pa.Table:
    return table(n)
"""


def test_on_failure_continue_runs_the_independent_branch(flow_file: Callable[[str], Flow]) -> None:
    flow = flow_file(BRANCHES)
    result = flow.run("--pipeline", "branches", "--on-failure", "continue")
    assert result.returncode == 1
    assert "step broken failed: RuntimeError: left branch" in result.stdout
    assert "step fine succeeded" in result.stdout
    bad = flow.run("--pipeline", "branches", "--on-failure", "sometimes")
    assert bad.returncode == 2
    assert "--on-failure must be fail_fast or continue" in bad.stderr


def test_a_table_value_is_printed_as_its_summary(flow_file: Callable[[str], Flow]) -> None:
    flow = flow_file(BRANCHES)
    result = flow.run("--pipeline", "tabled")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "pyarrow.Table 3 rows x 1 columns"
    assert "load it with client.pipelines.result(" in result.stderr
    as_json = flow.run("--pipeline", "tabled", "--json")
    assert json.loads(as_json.stdout) == "pyarrow.Table 3 rows x 1 columns"


def test_retry_detach_returns_the_queued_run_at_once(
    flow_file: Callable[[str], Flow], tmp_path: Path
) -> None:
    flow = flow_file(FAILING)
    assert flow.run("--param", f"marks={tmp_path / 'none'}").returncode == 1
    run_id = flow.json("pipelines", "runs", "fragile", "-p", flow.project)[0]["id"]
    again = flow.json("pipelines", "retry", run_id, "--detach")
    assert (again["id"], again["number"]) == (run_id, 1)
    assert again["state"] in ("queued", "running")
    flow.cli("pipelines", "cancel", run_id)  # its driver job need not run on
    refused = flow.cli("pipelines", "retry", "0" * 32, "--detach")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ")
