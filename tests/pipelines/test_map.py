"""Mapped steps: a 1,000-item map in chunk jobs whose fan-in receives the list in order, an
in-process map, and a failing item."""

from __future__ import annotations

from collections import Counter

from corridor.client.client import Client
from tests.pipelines.conftest import WriteModule

MAP = """
from corridor.pipelines import pipeline, step

@step(in_process=True)
def numbers(n: int) -> list[int]:
    return list(range(n))

@step
def square(x: int, offset: int = 0) -> int:
    return x * x + offset

@step(in_process=True)
def combine(values: list[int]) -> dict[str, object]:
    return {"count": len(values), "head": values[:3], "tail": values[-2:], "sum": sum(values)}

@pipeline
def fan(n: int = 1000, offset: int = 1) -> dict[str, object]:
    return combine(square.map(numbers(n), offset=offset))
"""


def test_a_thousand_item_map_runs_in_chunk_jobs_and_fans_in_in_order(
    admin_client: Client, project: str, pipeline_module: WriteModule
) -> None:
    flow = pipeline_module(MAP)
    result = admin_client.pipelines.run(flow.fan, {"n": 1000}, project=project)
    assert result.run.state == "succeeded", result.run.error
    assert result.value == {
        "count": 1000,
        "head": [1, 2, 5],
        "tail": [998 * 998 + 1, 999 * 999 + 1],
        "sum": sum(x * x + 1 for x in range(1000)),
    }
    steps = admin_client.pipelines.get(result.run.id).steps
    items = [s for s in steps if s.parent_key == "square"]
    assert len(items) == 1000
    assert Counter(s.state for s in items) == {"succeeded": 1000}
    jobs = {s.job_id for s in items}
    assert None not in jobs
    assert len(jobs) < 1000  # chunked: many items per job (as many jobs as free CPUs)
    assert admin_client.pipelines.output(result.run.id, "square[10]") == 101


IN_PROCESS_MAP = """
from corridor.pipelines import pipeline, step

@step(in_process=True)
def half(x: int) -> float:
    if x == 3:
        raise ValueError("three is odd here")
    return x / 2

@step(in_process=True)
def total(values: list[float]) -> float:
    return sum(values)

@pipeline(on_failure="continue")
def halves(items: list[int]) -> float:
    return total(half.map(items))
"""


def test_an_in_process_map_and_a_failing_item_failing_its_map_alone(
    admin_client: Client, project: str, pipeline_module: WriteModule
) -> None:
    flow = pipeline_module(IN_PROCESS_MAP)
    ok = admin_client.pipelines.run(flow.halves, {"items": [0, 2, 4]}, project=project)
    assert ok.run.state == "succeeded"
    assert ok.value == 3.0
    bad = admin_client.pipelines.run(flow.halves, {"items": [1, 3, 5]}, project=project)
    assert bad.run.state == "failed"
    states = {s.key: s.state for s in admin_client.pipelines.get(bad.run.id).steps}
    assert states["half[1]"] == "failed"
    assert states["half[0]"] == "succeeded"
    assert states["half"] == "failed"
    assert states["total"] == "upstream_failed"
    assert "1 of 3 items failed" in (bad.run.error or "")
