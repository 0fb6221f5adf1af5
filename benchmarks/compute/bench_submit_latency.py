"""Time from submitting a trivial command to seeing it running: Corridor's local executor beside
Ray Jobs and Prefect's process worker, in one run on one machine.

    .venv/bin/python benchmarks/compute/bench_submit_latency.py [--repeat 10] [--skip-ray]
        [--skip-prefect] [--prefect-poll-s 1]

Each system gets a warm-up submission first (not counted), then ``--repeat`` submissions one
after the other, each waited to its end before the next. "Running" is what each system's own API
reports, read by polling every 5 ms from the submitting client (so every figure carries the
same few milliseconds of polling error):

- Corridor: ``POST /projects/P/jobs`` with ``["true"]`` until ``GET /jobs/ID`` leaves
  queued/placed; the server's own ``started_at - created_at`` is printed beside it.
- Ray Jobs: ``JobSubmissionClient.submit_job(entrypoint="true")`` until the status leaves
  PENDING, against a ``ray start --head`` of this run's own, with token authentication on
  (``RAY_AUTH_MODE=token``), on free ports (6379 belongs to Redis here).
- Prefect: a ``process`` work pool and worker polling every ``--prefect-poll-s`` seconds;
  ``run_deployment`` until the flow run is RUNNING. Prefect pins an older FastAPI than Corridor,
  so it lives in a virtual environment of its own under ``benchmarks/.work`` (made on first use;
  ``--skip-prefect`` if it cannot be installed), and ``peer_prefect.py`` runs there.

Prints Markdown rows with the median and 90th percentile, and each peer's ratio to Corridor.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
from ray_head import ray_head

from corridor.compute.process_tree import kill_tree
from corridor.config import Settings
from corridor.home import init_home
from corridor.quickstart import ServerProcess, free_port

HERE = Path(__file__).resolve().parent
WORK = HERE.parent / ".work"
PREFECT_VENV = WORK / "prefect-venv"
PREFECT_VERSION = "3.9.1"
POLL_S = 0.005


def _poll_until(done: Callable[[], bool], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the job never got there")
        time.sleep(POLL_S)


@contextmanager
def _stopping(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """Stop a service started in a session of its own, and everything it started."""
    try:
        yield proc
    finally:
        kill_tree(roots=[proc.pid], groups=[proc.pid], grace_s=10.0)
        proc.wait()


def corridor(repeat: int) -> tuple[list[float], list[float]]:
    """Client-observed and server-recorded milliseconds from submit to running."""
    home = Path(tempfile.mkdtemp(prefix="bench-submit-")) / "home"
    home.mkdir()
    token = init_home(Settings(home=home)).admin_token
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRIDOR_")}
    server = ServerProcess(home, free_port(), env={**env, "CORRIDOR_HOME": str(home)})
    client_ms: list[float] = []
    server_ms: list[float] = []
    try:
        server.wait_ready()
        headers = {"authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            http.post("/api/v1/projects", json={"name": "bench"}).raise_for_status()
            for i in range(repeat + 1):
                started = time.perf_counter()
                response = http.post("/api/v1/projects/bench/jobs", json={"command": ["true"]})
                response.raise_for_status()
                job_id = response.json()["id"]

                def running(job_id: str = job_id) -> bool:
                    state = http.get(f"/api/v1/jobs/{job_id}").json()["state"]
                    return state not in ("queued", "placed")

                _poll_until(running)
                elapsed_ms = (time.perf_counter() - started) * 1000
                job = http.get(f"/api/v1/jobs/{job_id}/wait", params={"timeout_s": 60}).json()
                if job["state"] != "succeeded":
                    raise RuntimeError(f"the trivial job ended {job['state']}: {job['error']}")
                if i:
                    client_ms.append(elapsed_ms)
                    began = dt.datetime.fromisoformat(job["started_at"])
                    created = dt.datetime.fromisoformat(job["created_at"])
                    server_ms.append((began - created).total_seconds() * 1000)
    finally:
        server.stop()
        shutil.rmtree(home.parent, ignore_errors=True)
    return client_ms, server_ms


def ray_jobs(repeat: int) -> list[float]:
    """Milliseconds from ``submit_job`` to the status leaving PENDING, on a warm head."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    token = secrets.token_hex(32)
    # Short: Ray's unix sockets live under it, and socket paths are limited to ~100 bytes.
    temp_dir = Path(tempfile.mkdtemp(prefix="rb"))
    token_file = temp_dir / "token"
    token_file.write_text(token)
    times: list[float] = []
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    try:
        with ray_head(temp_dir, token_file, cpus=2, dashboard=True) as head:
            assert head.dashboard_url is not None
            headers = {"Authorization": f"Bearer {token}"}
            deadline = time.monotonic() + 180
            while True:  # the Jobs API comes up after the GCS
                try:
                    client = JobSubmissionClient(head.dashboard_url, headers=headers)
                    client.list_jobs()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
            for i in range(repeat + 1):
                started = time.perf_counter()
                job_id = client.submit_job(entrypoint="true")

                def status(job_id: str = job_id) -> JobStatus:
                    found: JobStatus = client.get_job_status(job_id)
                    return found

                _poll_until(lambda: status() != JobStatus.PENDING)
                elapsed_ms = (time.perf_counter() - started) * 1000
                _poll_until(lambda: status().is_terminal())
                if i:
                    times.append(elapsed_ms)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(temp_dir, ignore_errors=True)
    return times


def prefect_python(install: bool) -> Path | None:
    """The Python of Prefect's own environment, made on first use; None if it cannot be."""
    python = PREFECT_VENV / "bin" / "python"
    if python.exists():
        return python
    if not install:
        return None
    subprocess.run([sys.executable, "-m", "venv", str(PREFECT_VENV)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"prefect=={PREFECT_VERSION}"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"Prefect could not be installed; skipped:\n{done.stderr[-2000:]}", file=sys.stderr)
        shutil.rmtree(PREFECT_VENV, ignore_errors=True)
        return None
    return python


def prefect(python: Path, repeat: int, poll_s: float) -> list[float]:
    """Milliseconds from ``run_deployment`` to RUNNING, with a process worker polling every
    ``poll_s`` seconds."""
    work = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(work / "home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    log = open(work / "server.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [
            str(python),
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with _stopping(server):
            deadline = time.monotonic() + 180
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5):
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(1)
            (work / "flows").mkdir()
            done = subprocess.run(
                [
                    str(python),
                    str(HERE / "peer_prefect.py"),
                    "--work-dir",
                    str(work / "flows"),
                    "--repeat",
                    str(repeat),
                    "--poll-s",
                    str(poll_s),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
    finally:
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    ms: list[float] = json.loads(done.stdout.strip().splitlines()[-1])["ms"]
    return ms


def _row(name: str, ms: list[float], corridor_median: float, note: str = "") -> str:
    ordered = sorted(ms)
    median = statistics.median(ordered)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    ratio = median / corridor_median
    return f"| {name} | {median:,.0f} | {p90:,.0f} | {ratio:,.1f}x | {note} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-prefect", action="store_true")
    parser.add_argument("--no-install", action="store_true", help="never install Prefect")
    parser.add_argument("--prefect-poll-s", type=float, default=1.0)
    options = parser.parse_args()
    if options.repeat < 1:
        parser.error("--repeat must be at least 1")

    client_ms, server_ms = corridor(options.repeat)
    base = statistics.median(client_ms)
    rows = [
        _row(
            "Corridor, local executor",
            client_ms,
            base,
            f"server-side started_at - created_at: {statistics.median(server_ms):.0f} ms",
        ),
    ]
    if not options.skip_ray:
        rows.append(_row("Ray Jobs (`submit_job`, token auth)", ray_jobs(options.repeat), base))
    if not options.skip_prefect:
        python = prefect_python(install=not options.no_install)
        if python is None:
            rows.append("| Prefect process worker | skipped: not installable here | | | |")
        else:
            ms = prefect(python, options.repeat, options.prefect_poll_s)
            note = f"worker polls every {options.prefect_poll_s:g} s"
            rows.append(_row(f"Prefect {PREFECT_VERSION} process worker", ms, base, note))

    cores = os.cpu_count()
    memory_gib = psutil.virtual_memory().total / 2**30
    print(
        f"\nSubmit to running, trivial command; {options.repeat} runs each after a warm-up; "
        f"{cores} cores, {memory_gib:.0f} GiB\n"
    )
    print("| system | median ms | p90 ms | vs Corridor | note |")
    print("| --- | ---: | ---: | ---: | --- |")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
