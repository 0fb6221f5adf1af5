"""A server killed with SIGKILL mid-pipeline: the driver waits for it, and the run completes
after the restart with no step run twice (marker files count executions)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.client.client import Client
from corridor.config import Settings
from corridor.pipelines.driver.runner import RunResult
from tests.conftest import LiveServer, serving, sqlite_url
from tests.pipelines.conftest import WriteModule

SURVIVOR = """
import time
from pathlib import Path
from corridor.pipelines import pipeline, step

def mark(folder: str, name: str) -> None:
    path = Path(folder)
    (path / f"{name}-{len(list(path.glob(name + '-*')))}").write_text("")

@step(in_process=True, cache=False)
def first(marks: str) -> int:
    mark(marks, "first")
    return 1

@step(cache=False)
def slow(x: int, marks: str) -> int:
    mark(marks, "slow")
    time.sleep(1.0)
    return x + 1

@step(in_process=True, cache=False)
def last(x: int, marks: str) -> int:
    mark(marks, "last")
    return x * 10

@pipeline
def survivor(marks: str = "") -> int:
    return last(slow(first(marks), marks), marks)
"""


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of this test's own: it is killed. A job attempt outlives a server that comes
    back within its lease (here longer than a loaded machine takes to restart a server);
    past the lease, compute runs the job again."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "corridor.toml").write_text("job_lease_s = 60\n")
    with serving(home, sqlite_url(home)) as live:
        yield live


def test_a_run_survives_a_server_kill_and_runs_no_step_twice(
    own_server: LiveServer, pipeline_module: WriteModule, tmp_path: Path
) -> None:
    flow = pipeline_module(SURVIVOR)
    marks = tmp_path / "marks"
    marks.mkdir()
    ended: list[RunResult] = []
    errors: list[BaseException] = []
    settings = Settings(home=own_server.home)
    with Client(own_server.url, token=own_server.token, settings=settings) as client:
        client.create_project("survival")

        def drive() -> None:
            try:
                ended.append(
                    client.pipelines.run(flow.survivor, {"marks": str(marks)}, project="survival")
                )
            except BaseException as exc:
                errors.append(exc)

        driver = threading.Thread(target=drive)
        driver.start()
        deadline = time.monotonic() + 60
        while not list(marks.glob("slow-*")):  # the job step runs: kill the server now
            assert time.monotonic() < deadline
            assert driver.is_alive(), errors
            time.sleep(0.05)
        own_server.process.kill()
        time.sleep(1.0)
        own_server.start()
        driver.join(timeout=120)
        assert not driver.is_alive()
        assert not errors, errors
        assert ended[0].run.state == "succeeded", ended[0].run.error
        assert ended[0].value == 20
        counts = {n: len(list(marks.glob(f"{n}-*"))) for n in ("first", "slow", "last")}
        assert counts == {"first": 1, "slow": 1, "last": 1}
        states = {s.key: s.state for s in client.pipelines.get(ended[0].run.id).steps}
        assert states == {"first": "succeeded", "slow": "succeeded", "last": "succeeded"}
