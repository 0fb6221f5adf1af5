"""The request's read session: the guard and a reading route share one, and none outlives the
handler."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from corridor.config import Settings
from corridor.home import init_home
from corridor.runtime import Runtime
from corridor.server.app import create_app
from corridor.store.db import Database

MLFLOW = "/api/2.0/mlflow"


class Http:
    """Requests straight into the app, without a server (the transport is in-process)."""

    def __init__(self, runtime: Runtime, token: str) -> None:
        self.app = create_app(runtime)
        self.headers = {"authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test", headers=self.headers
            ) as client:
                return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

        return anyio.run(send)

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture
def app_and_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Http, list[str]]]:
    settings = Settings(home=tmp_path / "home")
    token = init_home(settings).admin_token
    runtime = Runtime(settings)
    events: list[str] = []
    real_read = Database.read

    @contextmanager
    def counted_read(db: Database) -> Iterator[Session]:
        events.append("open")
        with real_read(db) as session:
            yield session
        events.append("close")

    monkeypatch.setattr(Database, "read", counted_read)
    yield Http(runtime, token), events
    runtime.close()


def test_a_reading_route_shares_the_guards_one_read_session(
    app_and_reads: tuple[Http, list[str]],
) -> None:
    http, events = app_and_reads
    exp = http.post(f"{MLFLOW}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    run = http.post(f"{MLFLOW}/runs/create", json={"experiment_id": exp}).json()["run"]
    events.clear()
    got = http.get(f"{MLFLOW}/runs/get", params={"run_id": run["info"]["run_id"]})
    assert got.status_code == 200
    assert events == ["open", "close"]


def test_a_writing_route_gets_the_guards_session_closed_before_it_writes(
    app_and_reads: tuple[Http, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    http, events = app_and_reads
    exp = http.post(f"{MLFLOW}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    run_id = http.post(f"{MLFLOW}/runs/create", json={"experiment_id": exp}).json()["run"]
    real_write = Database.deferred_write

    @contextmanager
    def noted_write(db: Database) -> Iterator[Session]:
        with real_write(db) as session:
            # Noted when the route's transaction begins, not when the dependency hands it out.
            event.listen(session, "after_begin", lambda *_: events.append("write"))
            yield session

    monkeypatch.setattr(Database, "deferred_write", noted_write)
    events.clear()
    body = {"run_id": run_id["info"]["run_id"], "key": "m", "value": 1, "timestamp": 1, "step": 0}
    assert http.post(f"{MLFLOW}/runs/log-metric", json=body).status_code == 200
    assert events == ["open", "close", "write"]
