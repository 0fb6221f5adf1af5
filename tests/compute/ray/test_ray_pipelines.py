"""A pipeline whose step jobs run on a Ray site: its map's chunk jobs are placed there, and the
fan-in gets every item's output in order."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from corridor.client.client import Client
from corridor.config import Settings
from tests.compute.executors.contract import wait_until
from tests.compute.ray.conftest import RayTestCluster
from tests.conftest import LiveServer, clean_env, serving, sqlite_url

SITES = """
[sites.ray-a]
executor = "ray"
address = "{address}"
auth_token_file = "{token}"
resources = {{ site_a = 1 }}
cpus = 2
"""
PIPELINE = """
import os
from corridor.pipelines import pipeline, step

@step(in_process=True)
def numbers(n: int) -> list[int]:
    return list(range(n))

@step
def square(x: int) -> dict[str, int]:
    return {"x": x, "square": x * x, "pid": os.getpid()}

@step(in_process=True)
def gather(rows: list[dict[str, int]]) -> list[int]:
    return [r["square"] for r in rows]

@pipeline
def on_ray(n: int = 20) -> list[int]:
    return gather(square.map(numbers(n)))
"""


@pytest.fixture(scope="module")
def ray_pipelines_server(
    ray_cluster: RayTestCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server whose only site is the cluster's node ``a``."""
    home = tmp_path_factory.mktemp("ray-pipelines") / "home"
    home.mkdir()
    (home / "corridor.toml").write_text(
        SITES.format(address=ray_cluster.address, token=ray_cluster.token_file)
    )
    with clean_env(), serving(home, sqlite_url(home)) as live:
        yield live


@pytest.fixture
def flow(tmp_path: Path) -> Iterator[ModuleType]:
    name = f"raypipe_{uuid.uuid4().hex[:8]}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / name / "flow.py").write_text(PIPELINE)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(f"{name}.flow")
    finally:
        sys.path.remove(str(tmp_path))


def test_a_pipeline_runs_its_step_jobs_on_a_ray_site(
    ray_pipelines_server: LiveServer, flow: ModuleType
) -> None:
    live = ray_pipelines_server
    with Client(live.url, live.token, settings=Settings(home=live.home)) as client:
        client.create_project("piperay")
        assert wait_until(lambda: all(s.up for s in client.compute.sites()), timeout_s=60)
        result = client.pipelines.run(flow.on_ray, {"n": 20}, project="piperay")
        assert result.run.state == "succeeded", result.run.error
        assert result.value == [x * x for x in range(20)]
        items = [s for s in client.pipelines.get(result.run.id).steps if s.parent_key == "square"]
        jobs = {s.job_id for s in items}
        assert len(items) == 20
        assert None not in jobs
        assert {client.compute.job(j).site for j in jobs if j} == {"ray-a"}
