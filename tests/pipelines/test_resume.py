"""Resume: retrying a failed run after fixing its cause runs only what did not succeed."""

from __future__ import annotations

from pathlib import Path

from corridor.client.client import Client
from tests.pipelines.conftest import WriteModule

RESUMABLE = """
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
def second(x: int, marks: str) -> int:
    mark(marks, "second")
    return x + 1

@step(in_process=True, cache=False)
def third(x: int, marks: str) -> int:
    mark(marks, "third")
    if (Path(marks) / "broken").exists():
        raise RuntimeError("the input is broken")
    return x + 1

@pipeline
def resumable(marks: str = "") -> int:
    return third(second(first(marks), marks), marks)
"""


def test_retry_of_a_failed_run_reruns_only_its_failed_steps(
    admin_client: Client, project: str, pipeline_module: WriteModule, tmp_path: Path
) -> None:
    flow = pipeline_module(RESUMABLE)
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "broken").write_text("")
    failed = admin_client.pipelines.run(flow.resumable, {"marks": str(marks)}, project=project)
    assert failed.run.state == "failed"
    assert "the input is broken" in (failed.run.error or "")

    (marks / "broken").unlink()  # fix the cause, then resume
    admin_client.pipelines.retry(failed.run.id)
    ended = admin_client.pipelines.wait(failed.run.id, timeout_s=120)
    assert ended.state == "succeeded", ended.error
    assert admin_client.pipelines.result(failed.run.id) == 3
    counts = {n: len(list(marks.glob(f"{n}-*"))) for n in ("first", "second", "third")}
    assert counts == {"first": 1, "second": 1, "third": 2}
    states = {s.key: s.state for s in admin_client.pipelines.get(failed.run.id).steps}
    assert states == {"first": "succeeded", "second": "succeeded", "third": "succeeded"}
