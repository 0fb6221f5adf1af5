"""`corridor quickstart`: a fresh home, a real server, and each capability exercised once.

It grows with every capability Corridor gains; each step prints what it proved.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from corridor.client.client import Client
from corridor.config import Settings
from corridor.errors import Unavailable
from corridor.home import init_home

START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """A `corridor server` child process on loopback."""

    def __init__(self, home: Path, port: int, env: dict[str, str] | None = None) -> None:
        self.url = f"http://127.0.0.1:{port}"
        child_env = {**os.environ, **(env or {}), "CORRIDOR_HOME": str(home)}
        self.log_path = home / "server.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "corridor", "server", "--port", str(port)],
            env=child_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        with Client(self.url) as probe:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise Unavailable(f"server exited early; its log:\n{self.log_tail()}")
                try:
                    probe.health()
                    return
                except Unavailable:
                    time.sleep(0.1)
        raise Unavailable(f"server not ready after {timeout_s:.0f} s; its log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 20.0) -> int:
        """Ask the server to stop (SIGTERM) and wait; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._log.close()


def _track_a_run(client: Client, project: str, say: Callable[[str], None]) -> None:
    from corridor.tracking.entities import MetricPoint

    experiment = client.create_experiment(project, "first-experiment", exist_ok=True)
    run = client.create_run(project, experiment.experiment_id, run_name="quickstart-run")
    run_id = run.info.run_id
    now_ms = int(time.time() * 1000)
    points = [MetricPoint("loss", 1.0 / (step + 1), now_ms + step, step) for step in range(100)]
    client.log_batch(run_id, metrics=points, params=[("lr", "0.1")], tags=[("team", "demo")])
    history = client.metric_history(run_id, "loss")
    say(f"✓ tracked run {run_id[:8]}: 1 param, {len(history)} metric points, read back in order")


def _ingest_a_dataset(client: Client, project: str, say: Callable[[str], None]) -> None:
    csv = b"id,city,amount\n1,Paris,10.5\n2,Oslo,3.25\n3,Rome,7.0\n"
    out = client.data.ingest(csv, "orders", project=project)
    say(f"✓ ingested a CSV as dataset version {out.version.ref} ({out.version.row_count} rows)")


def _run_a_job(client: Client, project: str, say: Callable[[str], None]) -> None:
    code = "import sys; print('hello from job', sum(range(10)), file=sys.stdout)"
    future = client.compute.submit_command(
        [sys.executable, "-c", code], project=project, snapshot=False, timeout="1m"
    )
    job = client.compute.wait(future.id, timeout_s=60)
    output = client.compute.logs(job.id).data.decode().strip()
    energy = f"{job.energy_j:.1f} J ({job.energy_method})" if job.energy_j is not None else "n/a"
    say(f"✓ ran a job on site {job.site!r}: {job.state}, printed {output!r}, energy {energy}")


PIPELINE = """
from corridor.pipelines import pipeline, step

@step(in_process=True)
def numbers(n: int) -> list[int]:
    return list(range(n))

@step
def square(x: int) -> int:
    return x * x

@step(in_process=True)
def total(values: list[int]) -> int:
    return sum(values)

@pipeline
def squares(n: int = 10) -> int:
    return total(square.map(numbers(n)))
"""


def _run_a_pipeline(client: Client, project: str, home: Path, say: Callable[[str], None]) -> None:
    import importlib
    import uuid

    folder = home / "quickstart-flows"
    package = f"quickstart_flows_{uuid.uuid4().hex[:8]}"
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text("")
    (folder / package / "flow.py").write_text(PIPELINE)
    sys.path.insert(0, str(folder))
    try:
        flow = importlib.import_module(f"{package}.flow")
        first = client.pipelines.run(flow.squares, {"n": 10}, project=project)
        again = client.pipelines.run(flow.squares, {"n": 10}, project=project)
    finally:
        sys.path.remove(str(folder))
    steps = client.pipelines.get(again.run.id).steps
    cached = sum(1 for s in steps if s.state == "cached")
    say(
        f"✓ ran a pipeline (a map of 10 step jobs, then a fan-in): {first.run.state}, value "
        f"{first.value}; run again: {cached} of {len(steps)} steps from the cache"
    )


def run_quickstart(home: Path | None, *, keep: bool, say: Callable[[str], None]) -> Path:
    """Run the quickstart and return the home it used."""
    temporary = home is None
    home = home or Path(tempfile.mkdtemp(prefix="corridor-quickstart-"))
    settings = Settings(home=home)
    password = secrets.token_urlsafe(18)
    result = init_home(settings, admin_password=password)
    say(f"✓ initialised a fresh home at {result.home} (SQLite, local encrypted blobs)")
    server = ServerProcess(home, free_port())
    try:
        server.wait_ready()
        say(f"✓ started a server at {server.url}")
        with Client(server.url) as anonymous:
            issued = anonymous.login(result.admin_name, password)
        say(f"✓ logged in as {result.admin_name!r} with a password; got a 12-hour token")
        with Client(server.url, token=issued.token) as client:
            me = client.whoami()
            say(f"✓ authenticated call: whoami -> {me.name} (server admin: {me.is_admin})")
            project = client.create_project("quickstart", description="made by the quickstart")
            say(f"✓ created project {project.name!r}; you are its admin")
            _track_a_run(client, project.name, say)
            _ingest_a_dataset(client, project.name, say)
            _run_a_job(client, project.name, say)
            _run_a_pipeline(client, project.name, home, say)
            report = client.verify_audit()
            say(f"✓ audit chain intact over {report.checked} events")
    finally:
        code = server.stop()
    say(f"✓ stopped the server (exit code {code})")
    if temporary and not keep:
        shutil.rmtree(home, ignore_errors=True)
        say("✓ removed the temporary home (pass --keep to keep it)")
    return home
