"""The server dies mid-work and comes back: every job completes exactly once.

A real server runs 50 command jobs on the local executor; while some run and the rest wait, the
server is killed with SIGKILL and started again on the same home and port. Each job process
appends ``start``, ``tick`` (every 50 ms) and ``end`` lines, with its pid, to one shared file
(``O_APPEND`` writes of one line are atomic), so the file tells what really ran, whatever the
database says: every job must end exactly once, and no two processes of one job may be alive
at once (an attempt fenced off must have stopped ticking before the next one started).
"""

from __future__ import annotations

import itertools
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor import Client
from tests.conftest import LiveServer, serving, sqlite_url

JOBS = 50
# Each job records its start, sleeps, then records its end; the line names the job by an
# environment variable the submit sets, so a retried attempt writes the same name again.
JOB_SCRIPT = """
import os, sys, time
path, name = sys.argv[1], os.environ["DURABILITY_JOB"]
def note(what):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, f"{what} {name} {os.getpid()} {time.time():.6f}\\n".encode())
    os.close(fd)
note("start")
until = time.time() + float(sys.argv[2])
while time.time() < until:
    time.sleep(0.05)
    note("tick")
note("end")
"""
SITES_TOML = """
[sites.local]
executor = "local"
cpus = 16
memory = "8G"
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "corridor.toml").write_text(SITES_TOML)
    with serving(home, sqlite_url(home)) as live:
        yield live


def _runs(log: Path) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """Events by job name, then by process."""
    seen: dict[str, dict[str, list[tuple[str, float]]]] = defaultdict(lambda: defaultdict(list))
    for line in log.read_text().splitlines():
        what, name, pid, at = line.split()
        seen[name][pid].append((what, float(at)))
    return seen


def test_every_job_completes_exactly_once_across_a_server_kill(
    server: LiveServer, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    script = tmp_path / "job.py"
    script.write_text(JOB_SCRIPT)
    client = Client(server.url, server.token)
    ids = []
    for i in range(JOBS):
        future = client.compute.submit_command(
            [sys.executable, str(script), str(log), str(0.5 + (i % 5) * 0.4)],
            snapshot=False,
            cpus=1,
            env={"DURABILITY_JOB": f"job-{i}"},
            retries=2,
        )
        ids.append(future.id)
    client.close()

    # Kill the server once some jobs have started and others still wait.
    deadline = time.monotonic() + 60
    while not log.exists() or len(log.read_text().splitlines()) < 5:
        assert time.monotonic() < deadline, "no job started within a minute"
        time.sleep(0.05)
    server.process.kill()  # SIGKILL: no shutdown, no lifespan exit
    time.sleep(1.0)
    server.start()  # same home, same port

    client = Client(server.url, server.token)
    try:
        final = {job_id: client.compute.wait(job_id, timeout_s=120) for job_id in ids}
    finally:
        client.close()

    assert {job.state for job in final.values()} == {"succeeded"}
    runs = _runs(log)
    assert sorted(runs) == sorted(f"job-{i}" for i in range(JOBS))
    for name, processes in runs.items():
        ends = [pid for pid, events in processes.items() if events[-1][0] == "end"]
        assert len(ends) == 1, f"{name} ended in {len(ends)} processes: {dict(processes)}"
        alive = sorted((events[0][1], events[-1][1]) for events in processes.values())
        for (_, first_last), (second_first, _) in itertools.pairwise(alive):
            assert first_last <= second_first, f"{name} ran twice at once: {dict(processes)}"
