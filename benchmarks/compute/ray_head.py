"""A token-authenticated Ray head of a benchmark's own, shared by the compute benchmarks.

Every port is a free one (Redis already listens on Ray's default 6379), the head runs in a
session of its own under a short temp dir (Ray's unix socket paths are limited to ~100 bytes),
and everything it started is killed at the end: never ``ray stop``, which would stop every Ray
on the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from corridor.compute import ray_auth
from corridor.compute.process_tree import kill_tree
from corridor.quickstart import free_port

START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class RayHead:
    address: str  # the GCS, host:port
    dashboard_url: str | None  # the Jobs API, when the dashboard was asked for


@contextmanager
def ray_head(
    temp_dir: Path,
    token_file: Path,
    *,
    cpus: int,
    resources: str | None = None,
    dashboard: bool = False,
) -> Iterator[RayHead]:
    """A Ray head that demands the token in ``token_file``; ready once its GCS answers."""
    port = free_port()
    ports = {
        "port": port,
        "ray-client-server-port": free_port(),
        "dashboard-agent-listen-port": free_port(),
        "dashboard-agent-grpc-port": free_port(),
        "metrics-export-port": free_port(),
        "node-manager-port": free_port(),
        "object-manager-port": free_port(),
        "runtime-env-agent-port": free_port(),
    }
    dashboard_port = free_port() if dashboard else None
    if dashboard_port is not None:
        ports["dashboard-port"] = dashboard_port
    args = [
        str(Path(sys.executable).parent / "ray"),
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--num-cpus={cpus}",
        *([f"--resources={resources}"] if resources else []),
        f"--include-dashboard={'true' if dashboard else 'false'}",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir / 'ray'}",
        *(f"--{name}={value}" for name, value in ports.items()),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "CORRIDOR_"))}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file))
    with open(temp_dir / "head.log", "wb") as log:
        head = subprocess.Popen(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                ray_auth.probe(address, token_file.read_text(), timeout_s=2.0)
                break
            except Exception:
                if time.monotonic() > deadline or head.poll() is not None:
                    raise
                time.sleep(0.5)
        dashboard_url = f"http://127.0.0.1:{dashboard_port}" if dashboard_port else None
        yield RayHead(address, dashboard_url)
    finally:
        kill_tree(roots=[head.pid], groups=[head.pid], grace_s=10.0)
        head.wait()
