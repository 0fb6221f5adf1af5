"""A real Ray cluster on this machine, shared by every Ray test of a session.

One head (no CPUs: nothing runs there, so no test removes it) and two worker nodes that act as
two sites: node ``a`` carries the custom resource ``site_a``, node ``b`` carries ``site_b`` and
two declared GPUs (Ray accepts GPUs that do not exist; a task that asks for them is given
``CUDA_VISIBLE_DEVICES``). Token authentication is on. The cluster runs in a child process
(``cluster_process.py``) with a private temporary directory, so a stale ``ray_current_cluster``
file of another cluster is never read, and the GCS listens on a free port (Redis has 6379).
This process joins it as a Ray client through the executor's own ``join``, as a server does.

The Ray tests that need it are all in one module, ``test_ray.py``, and the fixtures are
module-scoped: the suite's ``--dist loadfile`` keeps a module on one worker, so a run builds one
cluster, and it is gone (this process disconnected too) before that worker's next module.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from corridor.compute.sites import Site

CLUSTER_SCRIPT = Path(__file__).with_name("cluster_process.py")
START_TIMEOUT_S = 120.0
SESSION_NODES: dict[str, dict[str, Any]] = {
    "a": {"num_cpus": 2, "resources": {"site_a": 100}},
    "b": {"num_cpus": 2, "num_gpus": 2, "resources": {"site_b": 100}},
}


@dataclass
class RayTestCluster:
    """A running test cluster: its GCS address, token file and the nodes by name."""

    address: str
    token_file: Path | None
    process: subprocess.Popen[str]
    nodes: dict[str, str] = field(default_factory=dict)

    def _ask(self, line: str) -> dict[str, Any]:
        stdin: IO[str] | None = self.process.stdin
        assert stdin is not None
        assert self.process.stdout is not None
        stdin.write(line + "\n")
        stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def remove_node(self, name: str) -> None:
        """Kill every process of node ``name`` at once, as a lost machine."""
        self._ask(f"remove {name}")
        self.nodes.pop(name, None)

    def add_node(self, name: str, spec: dict[str, Any]) -> str:
        answer = self._ask(f"add {name} {json.dumps(spec)}")
        self.nodes[name] = str(answer["node_id"])
        return self.nodes[name]

    def site(self, name: str, resources: dict[str, float], **extra: Any) -> Site:
        """A Ray site over this cluster whose jobs need ``resources``."""
        return Site(
            name=name,
            executor="ray",
            address=self.address,
            resources=resources,
            auth_token_file=self.token_file,
            **extra,
        )


def _child_env(temp_dir: Path, token_file: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORRIDOR_", "RAY_"))}
    env["RAY_TMPDIR"] = str(temp_dir)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    if token_file is None:
        env["RAY_AUTH_MODE"] = "disabled"
    else:
        env["RAY_AUTH_MODE"] = "token"
        env["RAY_AUTH_TOKEN_PATH"] = str(token_file)
    return env


@contextlib.contextmanager
def running_cluster(
    nodes: dict[str, dict[str, Any]], *, authenticated: bool = True
) -> Iterator[RayTestCluster]:
    """Start a head and ``nodes`` in a child process; shut it all down when the block ends."""
    # Short and private: Ray's socket paths live under it and must stay under 108 bytes.
    temp_dir = Path(tempfile.mkdtemp(prefix="corridor-ray-"))
    token_file = None
    if authenticated:
        token_file = temp_dir / "token"
        token_file.write_text(secrets.token_hex(32))
    spec = json.dumps({"head": {"num_cpus": 0}, "nodes": nodes})
    with open(temp_dir / "cluster.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, str(CLUSTER_SCRIPT), spec],
            env=_child_env(temp_dir, token_file),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            text = (temp_dir / "cluster.log").read_text(errors="replace")
            raise RuntimeError(f"the Ray test cluster did not start:\n{text[-4000:]}")
        started = json.loads(line)
        yield RayTestCluster(started["address"], token_file, process, dict(started["nodes"]))
    finally:
        _stop(process)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _stop(process: subprocess.Popen[str]) -> None:
    """Close stdin (the child shuts the cluster down); kill its session if it does not."""
    with contextlib.suppress(OSError):
        assert process.stdin is not None
        process.stdin.close()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayTestCluster]:
    """The module's authenticated cluster, with nodes ``a`` (site_a) and ``b`` (site_b)."""
    with running_cluster(SESSION_NODES) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def ray_joined(ray_cluster: RayTestCluster) -> Iterator[RayTestCluster]:
    """This process joined to the session's cluster as a client, through the executor."""
    from corridor.compute import ray_auth
    from corridor.compute.executors import ray as ray_executor

    saved = {
        k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
    }
    ray_executor.join(ray_auth.check_cluster(ray_cluster.site("join", {"site_a": 1})))
    try:
        yield ray_cluster
    finally:
        ray_executor.leave()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
