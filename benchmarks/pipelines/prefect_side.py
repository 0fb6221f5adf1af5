"""Prefect 3 for the pipelines benchmark: a ``prefect server`` of the run's own and one long-lived
``peer_prefect.py`` process that runs flows on request, so that they interleave with Corridor's.

Prefect lives in a virtual environment of its own under ``benchmarks/.work`` (it pins an older
FastAPI than Corridor's), the one ``benchmarks/compute/bench_submit_latency.py`` makes; it is
made here on first use if it is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "compute"))

from bench_submit_latency import PREFECT_VERSION, prefect_python  # noqa: E402

from corridor.compute.process_tree import kill_tree  # noqa: E402
from corridor.quickstart import free_port  # noqa: E402

__all__ = ["PREFECT_VERSION", "PrefectPeer", "prefect_peer", "prefect_python"]
START_TIMEOUT_S = 180.0


class PrefectPeer:
    """The running ``peer_prefect.py``: one flow per call, timed inside the peer."""

    def __init__(self, process: subprocess.Popen[str], server_pid: int) -> None:
        self._process = process
        self.pids = (server_pid, process.pid)  # what may still work after a flow returned

    def run(self, case: str, n: int) -> float:
        """Seconds for one call of the flow ``case`` over ``n`` tasks."""
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(json.dumps({"case": case, "n": n}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Prefect peer exited ({self._process.poll()})")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"Prefect's {case} flow returned a wrong value")
        seconds: float = answer["s"]
        return seconds


def _wait_healthy(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.5)


@contextmanager
def prefect_peer(python: Path, work: Path, *, process_workers: int) -> Iterator[PrefectPeer]:
    """A Prefect server on a free port and the peer process talking to it."""
    work = Path(tempfile.mkdtemp(prefix="prefect-", dir=work))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CORRIDOR_"))},
        "PREFECT_HOME": str(work / "home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "BENCH_PROCESS_WORKERS": str(process_workers),
    }
    command = [str(python), "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    with open(work / "server.log", "wb") as log:
        server = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    peer: subprocess.Popen[str] | None = None
    try:
        _wait_healthy(port, server)
        with open(work / "peer.log", "wb") as peer_log:
            peer = subprocess.Popen(
                [str(python), str(HERE / "peer_prefect.py")],
                env=env,
                cwd=work,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=peer_log,
                text=True,
                start_new_session=True,
            )
        yield PrefectPeer(peer, server.pid)
    finally:
        for proc in (peer, server):
            if proc is not None:
                kill_tree(roots=[proc.pid], groups=[proc.pid], grace_s=10.0)
                proc.wait()
