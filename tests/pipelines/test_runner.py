"""The driver against a live server: a diamond, conditions, failure policies, tracebacks,
captured output and refused outputs (in-process steps, unless a test is about jobs)."""

from __future__ import annotations

from pathlib import Path

from corridor.client.client import Client
from corridor.pipelines.events import RunResult, StepEvent
from tests.pipelines.conftest import WriteModule

DIAMOND = """
from corridor.pipelines import pipeline, step

@step(in_process=True)
def load(n: int) -> list[int]:
    print("loading", n)
    return list(range(n))

@step(in_process=True)
def double(rows: list[int]) -> list[int]:
    return [r * 2 for r in rows]

@step(in_process=True)
def square(rows: list[int]) -> list[int]:
    return [r * r for r in rows]

@step(in_process=True)
def join(a: list[int], b: list[int]) -> dict[str, int]:
    return {"double": sum(a), "square": sum(b)}

@pipeline
def diamond(n: int = 4) -> dict[str, int]:
    rows = load(n)
    return join(double(rows), square(rows))
"""


def test_a_diamond_runs_each_step_once_and_returns_its_value(
    admin_client: Client, project: str, pipeline_module: WriteModule
) -> None:
    flow = pipeline_module(DIAMOND)
    events: list[object] = []
    result = admin_client.pipelines.run(
        flow.diamond, {"n": 4}, project=project, on_event=events.append
    )
    assert result.run.state == "succeeded"
    assert result.value == {"double": 12, "square": 14}
    assert admin_client.pipelines.result(result.run.id) == {"double": 12, "square": 14}
    view = admin_client.pipelines.get(result.run.id)
    assert {s.key: s.state for s in view.steps} == {
        "load": "succeeded",
        "double": "succeeded",
        "square": "succeeded",
        "join": "succeeded",
    }
    assert admin_client.pipelines.output(result.run.id, "double") == [0, 2, 4, 6]
    assert "loading 4" in admin_client.pipelines.logs(result.run.id, "load")
    ended = [e.key for e in events if isinstance(e, StepEvent) and e.state == "succeeded"]
    assert sorted(ended) == ["double", "join", "load", "square"]


JOBS = """
from pathlib import Path
from corridor.pipelines import pipeline, step

@step(in_process=True)
def load(n: int) -> list[int]:
    return list(range(n))

@step(retries=2, backoff_s=0.1)
def flaky(rows: list[int], marks: str) -> int:
    folder = Path(marks)
    (folder / f"flaky-{len(list(folder.iterdir()))}").write_text("")
    if len(list(folder.glob("flaky-*"))) == 1:
        raise RuntimeError("first attempt fails")
    return sum(rows)

@step
def plus(rows: list[int], k: int) -> int:
    return sum(rows) + k

@step(in_process=True)
def total(a: int, b: int) -> int:
    return a + b

@pipeline
def jobs(n: int = 4, marks: str = "") -> int:
    rows = load(n)
    return total(flaky(rows, marks), plus(rows, 100))
"""


def test_job_steps_run_as_jobs_and_a_flaky_step_is_retried(
    admin_client: Client, project: str, pipeline_module: WriteModule, tmp_path: Path
) -> None:
    flow = pipeline_module(JOBS)
    marks = tmp_path / "marks"
    marks.mkdir()
    result = admin_client.pipelines.run(flow.jobs, {"n": 4, "marks": str(marks)}, project=project)
    assert result.run.state == "succeeded", result.run.error
    assert result.value == 6 + 106
    view = admin_client.pipelines.get(result.run.id)
    steps = {s.key: s for s in view.steps}
    assert steps["flaky"].job_id is not None
    assert steps["plus"].job_id is not None
    assert steps["flaky"].attempts == 2
    assert len(list(marks.glob("flaky-*"))) == 2

    again = admin_client.pipelines.run(flow.jobs, {"n": 4, "marks": str(marks)}, project=project)
    assert again.value == 112  # both job steps hit the cache (the server's lookup at begin)
    states = {s.key: s.state for s in admin_client.pipelines.get(again.run.id).steps}
    assert states["flaky"] == states["plus"] == "cached"
    assert len(list(marks.glob("flaky-*"))) == 2


POLICIES = """
import time
from corridor.pipelines import pipeline, step, when

@step(in_process=True)
def source(n: int) -> int:
    return n

@step(in_process=True)
def explode(n: int) -> int:
    raise ValueError(f"cannot take {n}")

@step(in_process=True)
def slow(n: int) -> int:
    time.sleep(0.3)
    return n + 1

@step(in_process=True)
def after_slow(n: int) -> int:
    return n * 10

@step(in_process=True)
def after_explode(n: int) -> int:
    return n

@pipeline(on_failure="fail_fast")
def policies(n: int = 1) -> list[int]:
    s = source(n)
    return [after_explode(explode(s)), after_slow(slow(s))]
"""


def test_fail_fast_cancels_the_rest_and_continue_finishes_independent_branches(
    admin_client: Client, project: str, pipeline_module: WriteModule
) -> None:
    flow = pipeline_module(POLICIES)
    fast = admin_client.pipelines.run(flow.policies, {}, project=project)
    assert fast.run.state == "failed"
    assert fast.value is None
    assert fast.run.error is not None
    assert "step 'explode' failed: ValueError: cannot take 1" in fast.run.error
    view = admin_client.pipelines.get(fast.run.id)
    states = {s.key: s.state for s in view.steps}
    assert states["explode"] == "failed"
    assert states["after_slow"] == "cancelled"  # fail_fast never starts it
    failed = next(s for s in view.steps if s.key == "explode")
    assert failed.traceback is not None
    assert "Traceback (most recent call last)" in failed.traceback
    assert 'raise ValueError(f"cannot take {n}")' in failed.traceback

    going = admin_client.pipelines.run(flow.policies, {}, project=project, on_failure="continue")
    assert going.run.state == "failed"
    states = {s.key: s.state for s in admin_client.pipelines.get(going.run.id).steps}
    assert states["after_slow"] == "succeeded"
    assert states["slow"] == "succeeded"
    assert states["after_explode"] == "upstream_failed"


BRANCHES = """
from corridor.pipelines import pipeline, step, when

@step(in_process=True)
def check(n: int) -> bool:
    return n > 0

@step(in_process=True)
def publish(n: int) -> str:
    return f"published {n}"

@step(in_process=True)
def alert(n: int) -> str:
    return f"alert {n}"

@step(in_process=True)
def after_publish(text: str) -> str:
    return text.upper()

@pipeline
def branches(n: int = 1) -> dict[str, object]:
    ok = check(n)
    with when(ok):
        done = after_publish(publish(n))
    with when(ok, negate=True):
        warned = alert(n)
    return {"done": done, "warned": warned}
"""


def test_when_runs_one_branch_and_skips_the_other_with_its_dependents(
    admin_client: Client, project: str, pipeline_module: WriteModule
) -> None:
    flow = pipeline_module(BRANCHES)
    yes = admin_client.pipelines.run(flow.branches, {"n": 2}, project=project)
    assert yes.value == {"done": "PUBLISHED 2", "warned": None}
    states = {s.key: s.state for s in admin_client.pipelines.get(yes.run.id).steps}
    assert states["alert"] == "skipped"
    assert states["publish"] == "succeeded"
    no = admin_client.pipelines.run(flow.branches, {"n": -1}, project=project)
    assert no.value == {"done": None, "warned": "alert -1"}
    states = {s.key: s.state for s in admin_client.pipelines.get(no.run.id).steps}
    assert states["publish"] == "skipped"
    assert states["after_publish"] == "skipped"


UNSTORABLE = """
from corridor.pipelines import pipeline, step

class Model:
    pass

@step(in_process=True)
def train(n: int) -> object:
    return Model()

@pipeline
def unstorable(n: int = 1) -> object:
    return train(n)
"""


def test_an_unstorable_output_fails_its_step_saying_what_to_return(
    admin_client: Client, project: str, pipeline_module: WriteModule
) -> None:
    flow = pipeline_module(UNSTORABLE)
    result = admin_client.pipelines.run(flow.unstorable, {}, project=project)
    assert result.run.state == "failed"
    step = admin_client.pipelines.get(result.run.id).steps[0]
    assert step.state == "failed"
    assert step.error is not None
    assert "cannot be stored safely (no pickle)" in step.error
    assert "return its arrays (numpy), tables" in step.error


CANCELLED = """
import time
from corridor.pipelines import pipeline, step

@step
def sleepy(n: int) -> int:
    time.sleep(60)
    return n

@pipeline
def cancelled(n: int = 1) -> int:
    return sleepy(n)
"""


def test_a_run_cancelled_from_outside_stops_its_driver(
    admin_client: Client, project: str, pipeline_module: WriteModule
) -> None:
    import threading
    import time

    flow = pipeline_module(CANCELLED)
    events: list[object] = []
    ended: list[RunResult] = []
    driver = threading.Thread(
        target=lambda: ended.append(
            admin_client.pipelines.run(flow.cancelled, {}, project=project, on_event=events.append)
        )
    )
    driver.start()
    deadline = time.monotonic() + 60
    while not any(isinstance(e, StepEvent) and e.job_id for e in events):
        assert time.monotonic() < deadline
        assert driver.is_alive()
        time.sleep(0.05)
    run_id = admin_client.pipelines.runs(project)[0].id
    admin_client.pipelines.cancel(run_id)
    driver.join(timeout=60)
    assert not driver.is_alive()
    assert ended[0].run.state == "cancelled"


LIMITED = """
import time
from pathlib import Path
from corridor.pipelines import pipeline, step

@step(in_process=True, cache=False)
def hold(gate: str, tag: str) -> str:
    deadline = time.monotonic() + 30
    while Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return tag

@pipeline(max_concurrent_runs=1)
def limited(gate: str = "", tag: str = "") -> str:
    return hold(gate, tag)
"""


def test_a_client_driven_run_past_the_concurrency_limit_waits_its_turn(
    admin_client: Client, project: str, pipeline_module: WriteModule, tmp_path: Path
) -> None:
    import threading
    import time

    flow = pipeline_module(LIMITED)
    gate = tmp_path / "gate"
    gate.write_text("")
    results: dict[str, RunResult] = {}

    def drive(tag: str) -> None:
        results[tag] = admin_client.pipelines.run(
            flow.limited, {"gate": str(gate), "tag": tag}, project=project
        )

    first = threading.Thread(target=drive, args=("first",))
    first.start()
    deadline = time.monotonic() + 30
    while not admin_client.pipelines.runs(project, state="running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = threading.Thread(target=drive, args=("second",))
    second.start()
    while not admin_client.pipelines.runs(project, state="queued"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    gate.unlink()  # the first run ends; the second gets its turn
    first.join(timeout=60)
    second.join(timeout=60)
    assert results["first"].value == "first"
    assert results["second"].value == "second"
    assert results["second"].run.started_at is not None
    assert results["first"].run.ended_at is not None
    assert results["second"].run.started_at >= results["first"].run.ended_at
