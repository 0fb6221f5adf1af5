"""Tracking against a real `corridor server`: streamed artifacts of any size, path traversal on
the wire, and logging that survives `kill -9` with every acknowledged point stored exactly once."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from corridor import Client
from tests.conftest import (
    LIVE_MAX_BODY_BYTES,
    LiveServer,
    clean_env,
    serving,
    sqlite_only,
    sqlite_url,
)

EXPS = "/api/v1/projects/p/experiments"


def _setup(live: LiveServer, runs: int = 1) -> list[str]:
    """Project ``p``, an experiment, and ``runs`` runs in it; return the run ids."""
    with live.client() as http:
        assert http.post("/api/v1/projects", json={"name": "p"}).status_code == 201
        eid = http.post(EXPS, json={"name": "e"}).json()["experiment_id"]
        return [
            http.post(f"{EXPS}/{eid}/runs", json={}).json()["info"]["run_id"] for _ in range(runs)
        ]


def _pattern(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    block = hashlib.sha256(b"corridor").digest() * (chunk // 32)
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece


@sqlite_only
def test_a_large_artifact_streams_up_and_down(live_server: LiveServer) -> None:
    (run_id,) = _setup(live_server)
    total = 48 * 1024 * 1024 + 12345
    assert total > LIVE_MAX_BODY_BYTES
    expected = hashlib.sha256(b"".join(_pattern(total))).hexdigest()
    with Client(live_server.url, token=live_server.token) as client:
        info = client.upload_artifact(run_id, "big/blob.bin", _pattern(total))
        assert info.file_size == total
        digest = hashlib.sha256()
        received = 0
        for chunk in client.iter_artifact(run_id, "big/blob.bin"):
            digest.update(chunk)
            received += len(chunk)
        assert received == total
        assert digest.hexdigest() == expected
        assert [f.path for f in client.list_artifacts(run_id, "big")] == ["big/blob.bin"]
    with live_server.client() as http:
        # The limit still guards the JSON routes.
        big = {"tags": [{"key": "t", "value": "x" * LIVE_MAX_BODY_BYTES}]}
        assert http.post(f"/api/v1/runs/{run_id}/batch", json=big).status_code == 413


def _raw(live: LiveServer, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``target`` exactly as written (no client-side normalisation of '..')."""
    url = urlsplit(live.url)
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {live.token}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


TRAVERSALS = [
    "../../../../etc/passwd",
    "a/../../b",
    "..",
    "%2e%2e/%2e%2e/etc/passwd",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "%252e%252e%252fetc",
    "..%5c..%5cwindows",
    "a%00.txt",
    "/etc/passwd",
    "file:%2F%2F%2Fetc%2Fpasswd",
    "a;b",
    "a//b",
    "./a",
]


@pytest.fixture(scope="module")
def traversal_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """One SQLite-backed server for every traversal, and the id of an experiment in it (each
    traversal gets its own run, so that what one leaves behind cannot hide from another)."""
    home = tmp_path_factory.mktemp("traversal") / "home"
    home.mkdir()
    with clean_env(), serving(home, sqlite_url(home)) as live, live.client() as http:
        assert http.post("/api/v1/projects", json={"name": "p"}).status_code == 201
        yield live, http.post(EXPS, json={"name": "e"}).json()["experiment_id"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_refused_on_the_wire(
    traversal_target: tuple[LiveServer, str], path: str
) -> None:
    live_server, experiment_id = traversal_target
    with live_server.client() as http:
        run_id = http.post(f"{EXPS}/{experiment_id}/runs", json={}).json()["info"]["run_id"]
    base = f"/api/v1/artifacts/{run_id}/"
    for method, body in (("PUT", b"pwned"), ("GET", b""), ("DELETE", b"")):
        status, reply = _raw(live_server, method, base + path, body)
        assert 400 <= status < 500, (method, path, status, reply)
        assert b"root:" not in reply
    status, _ = _raw(live_server, "GET", f"/api/v1/artifacts/{run_id}?path={path}")
    assert status == 422
    with live_server.client() as http:
        assert http.get(f"/api/v1/artifacts/{run_id}", params={"path": ""}).json()["files"] == []
    assert not any(b"pwned" in p.read_bytes() for p in live_server.home.rglob("*") if p.is_file())


SCRIPT = """
import corridor
corridor.start_run("exits", project="p", run_name="no-end")
for step in range(2500):
    corridor.log_metric("loss", 1.0 / (step + 1), step=step)
corridor.log_param("done", "yes")
# No end_run: the interpreter's exit flushes the queue and finishes the run.
"""


@sqlite_only
def test_queued_metrics_are_flushed_when_the_program_exits(live_server: LiveServer) -> None:
    _setup(live_server)
    env = {**os.environ, "CORRIDOR_URL": live_server.url, "CORRIDOR_TOKEN": live_server.token}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    with Client(live_server.url, token=live_server.token) as client:
        (run,) = client.search_runs("p", filter="attributes.run_name = 'no-end'").runs
        assert run.info.status == "FINISHED"
        assert run.params == {"done": "yes"}
        assert len(client.metric_history(run.info.run_id, "loss")) == 2500


WRITERS = 16
POINTS_PER_BATCH = 50
KILL_AFTER_ACKS = 64
WAIT_S = 60.0


class Logger(threading.Thread):
    """Log batches of distinct points to one run until the server stops answering."""

    def __init__(self, live: LiveServer, run_id: str, index: int) -> None:
        super().__init__(name=f"logger-{index}", daemon=True)
        self.live = live
        self.run_id = run_id
        self.acknowledged: list[list[dict[str, object]]] = []
        self.in_flight: list[dict[str, object]] = []
        self.unexpected: list[str] = []

    def batch(self, n: int) -> list[dict[str, object]]:
        return [
            {"key": "loss", "value": n + i / 100, "timestamp": 1_000 + n, "step": n * 100 + i}
            for i in range(POINTS_PER_BATCH)
        ]

    def run(self) -> None:
        with self.live.client() as http:
            for n in range(100_000):
                self.in_flight = self.batch(n)
                try:
                    response = http.post(
                        f"/api/v1/runs/{self.run_id}/batch", json={"metrics": self.in_flight}
                    )
                except httpx.TransportError:
                    return
                if response.status_code == 204:
                    self.acknowledged.append(self.in_flight)
                    self.in_flight = []
                else:
                    self.unexpected.append(f"{response.status_code} {response.text}")
                    return


def _key(point: dict[str, object]) -> tuple[object, ...]:
    return (point["step"], point["timestamp"], point["value"])


def test_kill_9_while_16_clients_log_keeps_every_acknowledged_point_once(
    live_server: LiveServer,
) -> None:
    run_ids = _setup(live_server, WRITERS)
    loggers = [Logger(live_server, run_id, i) for i, run_id in enumerate(run_ids)]
    for logger in loggers:
        logger.start()
    deadline = time.monotonic() + WAIT_S
    while sum(len(lg.acknowledged) for lg in loggers) < KILL_AFTER_ACKS:
        assert time.monotonic() < deadline, "the loggers made too little progress"
        assert all(lg.is_alive() for lg in loggers), [lg.unexpected for lg in loggers]
        time.sleep(0.01)

    live_server.process.kill()  # SIGKILL, mid-request for most loggers
    for logger in loggers:
        logger.join(WAIT_S)
        assert not logger.is_alive()
    assert [u for lg in loggers for u in lg.unexpected] == []

    live_server.start()
    with live_server.client() as http:
        for logger in loggers:
            # Clients retry what they were sending, and one batch whose answer they "lost".
            retries = [logger.in_flight] if logger.in_flight else []
            retries += logger.acknowledged[-1:]
            for batch in retries:
                url = f"/api/v1/runs/{logger.run_id}/batch"
                assert http.post(url, json={"metrics": batch}).status_code == 204
        for logger in loggers:
            history = http.get(
                f"/api/v1/runs/{logger.run_id}/metrics/history",
                params={"key": "loss", "max_results": 1_000_000},
            ).json()["metrics"]
            stored = [_key(p) for p in history]
            acknowledged = {_key(p) for batch in logger.acknowledged for p in batch}
            sent = acknowledged | {_key(p) for p in logger.in_flight}
            assert len(stored) == len(set(stored)), "a point was stored twice"
            assert acknowledged <= set(stored), "an acknowledged point was lost"
            assert set(stored) <= sent
            latest = http.get(f"/api/v1/runs/{logger.run_id}").json()["metrics"]["loss"]
            assert _key(latest) == max(stored, key=lambda k: (k[0], k[1], k[2]))
