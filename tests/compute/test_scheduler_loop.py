"""The scheduler loop in a real server: jobs placed on the local site, run by real workers that
call back over HTTP, retried, cancelled, and carried across a server killed with SIGKILL."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from corridor.compute.scheduler_loop import release_lease, take_lease
from corridor.store.base import utcnow
from corridor.store.db import Database
from tests.compute.core_world import SITES_TOML
from tests.conftest import LiveServer, serving, sqlite_only

# Short leases so that a lost worker is noticed within seconds.
TOML = "job_lease_s = 4\njob_heartbeat_s = 0.5\n"
STEADY_TOML = "job_lease_s = 15\njob_heartbeat_s = 0.5\n"
TERMINAL = {"succeeded", "failed", "cancelled"}


def _serve(home: Path, database_url: str, sqlite_template: Path, toml: str) -> Iterator[LiveServer]:
    (home / "corridor.toml").write_text(toml)
    with serving(home, database_url, sqlite_template=sqlite_template) as live:
        with live.client() as c:
            assert c.post("/api/v1/projects", json={"name": "p"}).status_code == 201
        yield live


@pytest.fixture
def server(home: Path, database_url: str, sqlite_template: Path) -> Iterator[LiveServer]:
    yield from _serve(home, database_url, sqlite_template, TOML)


@pytest.fixture
def steady_server(home: Path, database_url: str, sqlite_template: Path) -> Iterator[LiveServer]:
    """Leases longer than a server restart: workers ride out the outage."""
    yield from _serve(home, database_url, sqlite_template, STEADY_TOML)


def submit(c: httpx.Client, **body: Any) -> str:
    body.setdefault("cpus", 0.5)
    reply = c.post("/api/v1/projects/p/jobs", json=body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def wait(c: httpx.Client, job_id: str, *, states: set[str] = TERMINAL, limit_s: float = 90) -> Any:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        job = c.get(f"/api/v1/jobs/{job_id}/wait", params={"timeout_s": 5}).json()
        if job["state"] in states:
            return job
    raise AssertionError(f"job {job_id} did not reach {states}: {job}")


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_command_runs_on_the_local_site_and_its_output_is_kept(server: LiveServer) -> None:
    with server.client() as c:
        job_id = submit(
            c, command=py("import sys; print('out'); print('err', file=sys.stderr)"), name="hi"
        )
        job = wait(c, job_id)
        assert (job["state"], job["exit_code"], job["site"], job["attempts"]) == (
            "succeeded",
            0,
            "local",
            1,
        ), job
        logs = c.get(f"/api/v1/jobs/{job_id}/logs").content
        assert b"out\n" in logs
        assert b"err\n" in logs
        explained = c.get(f"/api/v1/jobs/{job_id}/explain").json()
        assert explained["chosen"] == "local"
        assert [cand["site"] for cand in explained["candidates"]] == ["local"]
        assert job["energy_j"] is not None
        assert job["energy_method"]


def test_a_failing_command_is_retried_then_fails_with_its_exit_code(server: LiveServer) -> None:
    with server.client() as c:
        job_id = submit(c, command=py("raise SystemExit(3)"), retries=1, backoff_s=0.1)
        job = wait(c, job_id)
        assert (job["state"], job["exit_code"], job["attempts"]) == ("failed", 3, 2), job


@sqlite_only
def test_cancel_stops_a_running_job(server: LiveServer) -> None:
    with server.client() as c:
        job_id = submit(c, command=py("import time; print('started', flush=True); time.sleep(120)"))
        wait(c, job_id, states={"running"})
        assert c.post(f"/api/v1/jobs/{job_id}/cancel").json()["cancel_requested"] is True
        job = wait(c, job_id, limit_s=30)
        assert job["state"] == "cancelled"


def test_only_one_process_holds_the_scheduler_lease(db: Database) -> None:
    now = utcnow()
    assert take_lease(db, "a", now=now)
    assert take_lease(db, "a", now=now)
    assert not take_lease(db, "b", now=now)
    release_lease(db, "a")
    assert take_lease(db, "b", now=now)
    # A holder that stopped renewing is taken over once its row expires.
    import datetime as dt

    assert take_lease(db, "c", now=now + dt.timedelta(seconds=60))


@pytest.fixture
def two_sites(home: Path, database_url: str, sqlite_template: Path) -> Iterator[LiveServer]:
    """Two local sites on this machine: eu (eu-west, 2 declared GPUs) and us (us-east)."""
    yield from _serve(home, database_url, sqlite_template, TOML + SITES_TOML)


@sqlite_only
def test_placement_follows_data_residency_and_reserves_distinct_gpus(
    two_sites: LiveServer,
) -> None:
    with two_sites.client() as c:
        upload = c.post("/api/v1/dataset-uploads/p/sales?region=us-east", content=b"a,b\n1,2\n")
        assert upload.status_code == 201, upload.text
        pinned = submit(c, command=py("print('hi')"), datasets=["sales@1"])
        assert wait(c, pinned)["site"] == "us"
        show = "import os, time; print(os.environ['CUDA_VISIBLE_DEVICES'], flush=True)"
        first = submit(c, command=py(show + "; time.sleep(60)"), gpus=1)
        wait(c, first, states={"running"})
        second = submit(c, command=py(show), gpus=1)
        assert wait(c, second)["site"] == "eu"
        devices = set()
        for job_id in (first, second):
            deadline = time.monotonic() + 30
            while not (logs := c.get(f"/api/v1/jobs/{job_id}/logs").content.strip()):
                assert time.monotonic() < deadline, f"no output from {job_id}"
                time.sleep(0.2)
            devices.add(logs.decode())
        assert devices == {"0", "1"}
        c.post(f"/api/v1/jobs/{first}/cancel")
        assert wait(c, first, limit_s=30)["state"] == "cancelled"


@sqlite_only
def test_a_malformed_sites_table_stops_the_server_from_starting(
    home: Path, database_url: str, sqlite_template: Path
) -> None:
    from corridor.errors import Unavailable

    (home / "corridor.toml").write_text('[sites.eu]\nexecutor = "local"\ncpus = "many"\n')
    with pytest.raises(Unavailable) as failed, serving(home, database_url):
        pass
    assert "[sites.eu] cpus: must be a number, not 'many'" in str(failed.value)
