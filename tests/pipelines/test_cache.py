"""The step cache: hits and misses as code, data and parameters change, `no_cache`, per-step
`cache=False`, and no hit across projects. Executions are counted with marker files."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from corridor.client.client import Client
from tests.pipelines.conftest import WriteModule

CACHED = """
from pathlib import Path
from corridor.pipelines import pipeline, step

def mark(folder: str, name: str) -> None:
    path = Path(folder)
    (path / f"{name}-{len(list(path.glob(name + '-*')))}").write_text("")

@step(in_process=True)
def load(n: int, marks: str) -> list[int]:
    mark(marks, "load")
    return list(range(n))

@step(in_process=True)
def scale(rows: list[int], factor: int, marks: str) -> list[int]:
    mark(marks, "scale")
    return [r * factor for r in rows]

@step(in_process=True, cache=False)
def report(rows: list[int], marks: str) -> int:
    mark(marks, "report")
    return sum(rows)

@pipeline
def cached(n: int = 3, factor: int = 2, marks: str = "") -> int:
    return report(scale(load(n, marks), factor, marks), marks)
"""


def _counts(marks: Path) -> dict[str, int]:
    return {name: len(list(marks.glob(f"{name}-*"))) for name in ("load", "scale", "report")}


def _states(client: Client, run_id: str) -> dict[str, str]:
    return {s.key: s.state for s in client.pipelines.get(run_id).steps}


def test_cache_hits_and_misses_follow_code_data_and_parameters(
    admin_client: Client, project: str, pipeline_module: WriteModule, tmp_path: Path
) -> None:
    flow = pipeline_module(CACHED)
    marks = tmp_path / "marks"
    marks.mkdir()
    runs = admin_client.pipelines

    def run(module: ModuleType, target: str = project, **params: object) -> tuple[str, object]:
        result = runs.run(module.cached, {"marks": str(marks), **params}, project=target)
        assert result.run.state == "succeeded", result.run.error
        return result.run.id, result.value

    _, value = run(flow)
    assert value == 6
    assert _counts(marks) == {"load": 1, "scale": 1, "report": 1}

    again, value = run(flow)  # everything cached but the step with cache=False
    assert value == 6
    assert _counts(marks) == {"load": 1, "scale": 1, "report": 2}
    assert _states(admin_client, again) == {
        "load": "cached",
        "scale": "cached",
        "report": "succeeded",
    }

    run(flow, factor=3)  # a parameter of scale changed: scale misses, load hits
    assert _counts(marks) == {"load": 1, "scale": 2, "report": 3}

    _, value = run(flow, n=4)  # new data for scale (load's output changed): both miss
    assert value == 12
    assert _counts(marks) == {"load": 2, "scale": 3, "report": 4}

    result = runs.run(flow.cached, {"marks": str(marks)}, project=project, no_cache=True)
    assert result.run.state == "succeeded"
    assert _counts(marks) == {"load": 3, "scale": 4, "report": 5}

    source = Path(str(flow.__file__))
    source.write_text(source.read_text().replace("r * factor", "factor * r"))
    edited = importlib.reload(flow)
    changed, value = run(edited)  # scale's code changed: scale misses, load hits
    assert value == 6
    assert _counts(marks) == {"load": 3, "scale": 5, "report": 6}
    assert _states(admin_client, changed)["load"] == "cached"

    other = f"{project}-other"
    admin_client.create_project(other)
    elsewhere, _ = run(edited, target=other)  # the cache never crosses projects
    assert _counts(marks) == {"load": 4, "scale": 6, "report": 7}
    assert "cached" not in _states(admin_client, elsewhere).values()
