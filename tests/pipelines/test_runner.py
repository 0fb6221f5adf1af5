"""The driver against a live server: a diamond, conditions, failure policies, tracebacks,
captured output and refused outputs (in-process steps, unless a test is about jobs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from corridor.client.client import Client
from corridor.pipelines.events import StepEvent
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
    result = admin_client.pipelines.run(flow.diamond, {"n": 4}, project=project, on_event=events.append)
    assert result.run.state == "succeeded"
    assert result.value == {"double": 12, "square": 14}
    assert admin_client.pipelines.result(result.run.id) == {"double": 12, "square": 14}
    view = admin_client.pipelines.get(result.run.id)
    assert {s.key: s.state for s in view.steps} == {
        "load": "succeeded", "double": "succeeded", "square": "succeeded", "join": "succeeded"
    }
    assert admin_client.pipelines.output(result.run.id, "double") == [0, 2, 4, 6]
    assert "loading 4" in admin_client.pipelines.logs(result.run.id, "load")
    ended = [e.key for e in events if isinstance(e, StepEvent) and e.state == "succeeded"]
    assert sorted(ended) == ["double", "join", "load", "square"]
