"""The Ray executor against a real Ray cluster of this machine (see ``conftest.py``).

Everything that needs the cluster is in this one module, so that a session starts one cluster.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from corridor.compute.executors.base import Executor
from corridor.compute.executors.ray import RayExecutor
from corridor.compute.sansio.resources import Resources
from tests.compute.executors.contract import ExecutorContract, wait_until
from tests.compute.executors.loopback import LoopbackComputeServer, work
from tests.compute.ray.conftest import RayTestCluster

PRINT_ENV = "import os; print(repr(os.environ.get({name!r})))"


class TestRayExecutor(ExecutorContract):
    """The executor contract, on the nodes of site ``a``."""

    site = "ray-a"

    @pytest.fixture
    def executor(self, ray_joined: RayTestCluster) -> Iterator[Executor]:
        executor = RayExecutor({"site_a": 1}, cancel_grace_s=5.0)
        yield executor
        executor.close()

    def env_seen_by_job(self, executor: Executor, host: LoopbackComputeServer, name: str) -> bytes:
        argv = [sys.executable, "-c", PRINT_ENV.format(name=name)]
        job_id, _ = self.launch(executor, host, work(argv=argv))
        return host.wait_for(job_id, 1, "finished").logs()

    def test_the_clusters_token_does_not_reach_a_job(
        self, executor: Executor, host: LoopbackComputeServer
    ) -> None:
        assert self.env_seen_by_job(executor, host, "RAY_AUTH_TOKEN_PATH") == b"None\n"

    def test_gpus_are_hidden_from_a_job_that_holds_none(
        self, executor: Executor, host: LoopbackComputeServer
    ) -> None:
        assert self.env_seen_by_job(executor, host, "CUDA_VISIBLE_DEVICES") == b"''\n"


def test_capacity_counts_only_the_nodes_that_carry_the_sites_resource(
    ray_joined: RayTestCluster,
) -> None:
    assert RayExecutor({"site_a": 1}).capacity() == Resources(
        cpus=2.0, memory_bytes=_memory(ray_joined, "site_a"), gpus=0.0
    )
    site_b = RayExecutor({"site_b": 1}).capacity()
    assert site_b is not None
    assert (site_b.cpus, site_b.gpus) == (2.0, 2.0)
    whole = RayExecutor({}).capacity()
    assert whole is not None
    assert (whole.cpus, whole.gpus) == (4.0, 2.0)
    assert RayExecutor({"site_nowhere": 1}).capacity() == Resources(0.0, 0, 0.0)


def _memory(cluster: RayTestCluster, resource: str) -> int:
    """What Ray says the memory of the nodes carrying ``resource`` is."""
    import ray

    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return sum(
        int(node["Resources"].get("memory", 0))
        for node in nodes
        if node["Alive"] and resource in node["Resources"]
    )


_ = wait_until
