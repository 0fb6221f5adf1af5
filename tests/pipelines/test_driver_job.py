"""Runs the server drives: a run started through the API runs as a driver job and completes."""

from __future__ import annotations

from corridor.client.client import Client
from tests.pipelines.conftest import WriteModule

SERVER_DRIVEN = """
import os
from corridor.pipelines import current_step, pipeline, step

@step(in_process=True)
def where(n: int) -> dict[str, object]:
    context = current_step()
    return {"n": n, "step": context.key if context else None}

@step
def add(x: dict[str, object], k: int) -> int:
    return int(x["n"]) + k + (1000 if os.environ.get("PIPELINE_STEP") == "add" else 0)

@pipeline
def served(n: int = 1, k: int = 2) -> dict[str, object]:
    info = where(n)
    return {"info": info, "sum": add(info, k)}
"""


def test_a_run_started_through_the_api_is_driven_by_a_driver_job(
    admin_client: Client, project: str, pipeline_module: WriteModule
) -> None:
    flow = pipeline_module(SERVER_DRIVEN)
    admin_client.pipelines.register(flow.served, project=project)
    started = admin_client.pipelines.start("served", {"n": 5}, project=project)
    assert started.driver == "job"
    ended = admin_client.pipelines.wait(started.id, timeout_s=120)
    assert ended.state == "succeeded", ended.error
    assert ended.driver_job_id is not None
    assert admin_client.pipelines.result(started.id) == {
        "info": {"n": 5, "step": "where"},
        "sum": 1007,
    }
