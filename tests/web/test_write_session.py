"""The route's write session: its changes and the request's audit event commit together, once.

Checked on both metadata backends, in process for what happens inside one request and through
a live server for concurrent writers.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.orm import Session

from corridor.client.transport import InProcessTransport
from corridor.config import Settings
from corridor.home import init_home
from corridor.runtime import Runtime
from corridor.security import audit
from corridor.security.audit_chain import EventRecord
from corridor.server.app import create_app
from corridor.web.sessions import WRITE_SESSION, WriteRoute
from tests.conftest import LiveServer, premigrate, run_cli

EXPERIMENTS = "/api/v1/projects/p/experiments"


@pytest.fixture
def served(settings: Settings, sqlite_template: Path) -> Iterator[tuple[Runtime, str]]:
    premigrate(settings.effective_database_url, sqlite_template)
    token = init_home(settings).admin_token
    rt = Runtime(settings)
    yield rt, token
    rt.close()


@pytest.fixture
def http(served: tuple[Runtime, str]) -> Iterator[httpx.Client]:
    """The administrator's client of an app with one project, ``p``, in process."""
    rt, token = served
    transport = InProcessTransport(create_app(rt))
    headers = {"authorization": f"Bearer {token}"}
    with httpx.Client(transport=transport, base_url="http://t", headers=headers) as client:
        assert client.post("/api/v1/projects", json={"name": "p"}).status_code == 201
        yield client


def _events(rt: Runtime, request_id: str) -> list[EventRecord]:
    return [e for e in audit.list_events(rt.db, limit=1000) if e.request_id == request_id]


def _create(http: httpx.Client, name: str) -> tuple[str, httpx.Response]:
    request_id = uuid.uuid4().hex
    response = http.post(EXPERIMENTS, json={"name": name}, headers={"x-request-id": request_id})
    return request_id, response


def _experiment_names(http: httpx.Client) -> list[str]:
    """Names of the experiments in ``p``, without the project's prefix."""
    return [e["name"].removeprefix("p/") for e in http.get(EXPERIMENTS).json()["experiments"]]


def test_a_write_is_audited_once_with_the_replys_status(
    served: tuple[Runtime, str], http: httpx.Client
) -> None:
    rt, _ = served
    request_id, response = _create(http, "e")
    assert response.status_code == 201
    [event] = _events(rt, request_id)
    assert (event.outcome, event.action, event.actor) == (
        "success",
        "tracking.create_experiment",
        "admin",
    )
    assert event.detail == {"method": "POST", "status": 201}
    assert audit.verify(rt.db).ok


def test_a_failure_after_the_audit_append_rolls_back_both_and_is_audited_as_an_error(
    served: tuple[Runtime, str], http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, _ = served
    real_append = audit.append_in

    def append_then_fail(session: Session, entry: audit.AuditEntry) -> EventRecord:
        real_append(session, entry)
        raise RuntimeError("the disk filled up before the commit")

    monkeypatch.setattr(audit, "append_in", append_then_fail)
    request_id, response = _create(http, "lost")
    assert response.status_code == 500
    monkeypatch.setattr(audit, "append_in", real_append)

    assert "lost" not in _experiment_names(http)
    [event] = _events(rt, request_id)
    assert (event.outcome, event.detail["status"]) == ("error", 500)
    # The next write chains onto the event that was stored, not onto the one rolled back.
    request_id, response = _create(http, "kept")
    assert response.status_code == 201
    assert [e.outcome for e in _events(rt, request_id)] == ["success"]
    assert "kept" in _experiment_names(http)
    assert audit.verify(rt.db).ok


def test_a_refused_write_rolls_back_and_gets_one_failure_event(
    served: tuple[Runtime, str], http: httpx.Client
) -> None:
    rt, _ = served
    assert _create(http, "twice")[1].status_code == 201
    request_id, response = _create(http, "twice")
    assert response.status_code == 409
    [event] = _events(rt, request_id)
    assert (event.outcome, event.detail["status"]) == ("failed", 409)
    assert _experiment_names(http) == ["twice"]
    assert audit.verify(rt.db).ok


def test_a_request_refused_by_its_guard_gets_one_denied_event(
    served: tuple[Runtime, str], http: httpx.Client
) -> None:
    rt, _ = served
    request_id = uuid.uuid4().hex
    headers = {"authorization": "Bearer nonsense", "x-request-id": request_id}
    response = http.post(EXPERIMENTS, json={"name": "x"}, headers=headers)
    assert response.status_code == 401
    [event] = _events(rt, request_id)
    assert event.outcome == "denied"


def test_write_sessions_end_even_when_every_worker_thread_waits_to_write(
    served: tuple[Runtime, str],
) -> None:
    # One worker thread for handlers: while it waits for SQLite's one write connection, the
    # request holding that connection must still find a thread to commit on.
    rt, token = served
    app = create_app(rt)
    headers = {"authorization": f"Bearer {token}"}
    statuses: list[int] = []

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers, timeout=60
        ) as client:

            async def create(name: str) -> None:
                response = await client.post("/api/v1/projects", json={"name": name})
                statuses.append(response.status_code)

            with anyio.fail_after(60):
                async with anyio.create_task_group() as group:
                    for n in range(8):
                        group.start_soon(create, f"p{n}")

    anyio.run(main)
    assert statuses == [201] * 8
    assert audit.verify(rt.db).ok


def _writes(dependant: Dependant) -> bool:
    return any(d.call is WRITE_SESSION.dependency or _writes(d) for d in dependant.dependencies)


def test_every_route_with_a_write_session_ends_it_in_its_handler(
    served: tuple[Runtime, str],
) -> None:
    rt, _ = served
    routes = [c.original_route for c in iter_route_contexts(create_app(rt).routes)]
    writing = [r for r in routes if isinstance(r, APIRoute) and _writes(r.dependant)]
    assert len(writing) > 50
    assert [r.path for r in writing if not isinstance(r, WriteRoute)] == []


class Writer(threading.Thread):
    """Log metrics to one run, one request per point, and note what was not acknowledged."""

    def __init__(self, live: LiveServer, run_id: str, index: int, count: int) -> None:
        super().__init__(name=f"writer-{index}")
        self.live, self.run_id, self.index, self.count = live, run_id, index, count
        self.unexpected: list[str] = []

    def run(self) -> None:
        with self.live.client() as http:
            for step in range(self.count):
                body: dict[str, Any] = {"metrics": [{"key": f"m{self.index}", "value": step}]}
                body["metrics"][0].update(timestamp=step, step=step)
                response = http.post(f"/api/v1/runs/{self.run_id}/batch", json=body)
                if response.status_code != 204:
                    self.unexpected.append(f"{response.status_code} {response.text}")


def test_concurrent_writers_each_get_one_event_and_the_chain_verifies(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers, per_writer = 6, 15
    with live_server.client() as admin:
        assert admin.post("/api/v1/projects", json={"name": "p"}).status_code == 201
        experiment = admin.post(EXPERIMENTS, json={"name": "e"}).json()["experiment_id"]
        run = admin.post(f"{EXPERIMENTS}/{experiment}/runs", json={}).json()
    threads = [Writer(live_server, run["info"]["run_id"], i, per_writer) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [problem for t in threads for problem in t.unexpected] == []

    monkeypatch.setenv("CORRIDOR_DATABASE_URL", live_server.database_url)
    done = run_cli(live_server.home, "audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    # The project, the experiment and the run, then one event per batch.
    assert f"{3 + writers * per_writer} events verified" in done.stdout
    logged = run_cli(live_server.home, "audit", "ls", "--json", "--limit", "1000")
    assert logged.returncode == 0, logged.stderr
    assert logged.stdout.count('"tracking.log_batch"') == writers * per_writer
