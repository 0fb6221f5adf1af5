"""A real HTTP server on loopback that speaks the worker routes, with state the tests can read.

It stands in for Corridor's worker API where a test needs to steer the server's side (answer a
heartbeat with a cancel, fence an attempt, stop acknowledging heartbeats) or to see exactly
what a worker sent (every log chunk by seq, the result bytes, the finished report). It checks the
bearer token and the route shapes as the spec writes them; it is a server, not a mock: the
worker reaches it over TCP like any other.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ROUTE = re.compile(
    r"^/api/v1/jobs/(?P<job>[^/]+)/attempts/(?P<n>\d+)/(?P<route>[a-z-]+)(?:/(?P<i>\d+))?$"
)


@dataclass
class AttemptRecord:
    """What the server knows of one attempt, and how the test wants it to answer."""

    work: dict[str, object]
    token: str
    snapshot: bytes | None = None
    input: bytes | None = None
    datasets: list[bytes] = field(default_factory=list)
    started: dict[str, object] | None = None
    finished: dict[str, object] | None = None
    result: bytes | None = None
    log_chunks: dict[int, bytes] = field(default_factory=dict)
    heartbeats: int = 0
    cancel: bool = False
    fenced: bool = False
    heartbeat_status: int | None = None  # answer heartbeats with this error status
    drop_after_logs: int = 0  # store this many log posts, then drop the connection unanswered
    requests: list[str] = field(default_factory=list)

    def logs(self) -> bytes:
        return b"".join(self.log_chunks[k] for k in sorted(self.log_chunks))


def work(
    *,
    argv: list[str] | None = None,
    function: dict[str, object] | None = None,
    snapshot: str | None = None,
    has_input: bool = False,
    timeout_s: float | None = None,
    heartbeat_s: float = 0.1,
    lease_s: float = 2.0,
    env: dict[str, str] | None = None,
    datasets: list[str] | None = None,
) -> dict[str, object]:
    """A WorkOut body as the server's work route gives it."""
    return {
        "kind": "function" if function is not None else "command",
        "argv": argv,
        "function": function,
        "env": env or {},
        "snapshot": snapshot,
        "has_input": has_input,
        "timeout_s": timeout_s,
        "heartbeat_s": heartbeat_s,
        "lease_s": lease_s,
        "datasets": datasets or [],
        "run_id": None,
        "resources": {"cpus": 1.0, "memory_bytes": 0, "gpus": 0.0},
        "workers": 1,
        "gpu_indices": [],
    }


class LoopbackComputeServer:
    """Serves the worker routes of every attempt added with ``add``."""

    def __init__(self) -> None:
        self.attempts: dict[tuple[str, int], AttemptRecord] = {}
        self.changed = threading.Condition()
        handler = type("Handler", (_Handler,), {"owner": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, job_id: str, attempt: int, body: dict[str, object], **extra: object) -> str:
        """Make an attempt known; return its job token."""
        token = secrets.token_urlsafe(16)
        record = AttemptRecord(work={"job_id": job_id, "attempt": attempt, **body}, token=token)
        for key, value in extra.items():
            setattr(record, key, value)
        with self.changed:
            self.attempts[(job_id, attempt)] = record
        return token

    def record(self, job_id: str, attempt: int) -> AttemptRecord:
        return self.attempts[(job_id, attempt)]

    def wait_for(
        self, job_id: str, attempt: int, what: str, timeout_s: float = 60.0
    ) -> AttemptRecord:
        """Block until the attempt has ``what`` (``started``, ``finished``, ``logs:TEXT``)."""
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while True:
                rec = self.attempts[(job_id, attempt)]
                if what.startswith("logs:"):
                    if what[5:].encode() in rec.logs():
                        return rec
                elif getattr(rec, what) is not None:
                    return rec
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"attempt {job_id}/{attempt} never had {what}: {rec}")
                self.changed.wait(left)

    def update(self, job_id: str, attempt: int, **values: object) -> None:
        with self.changed:
            rec = self.attempts[(job_id, attempt)]
            for key, value in values.items():
                setattr(rec, key, value)


@contextmanager
def loopback_server() -> Iterator[LoopbackComputeServer]:
    server = LoopbackComputeServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    owner: LoopbackComputeServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        body = {"error": {"code": "error", "message": message}}
        self._send(status, json.dumps(body).encode())

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        match = ROUTE.match(parts.path)
        if match is None:
            self._error(404, f"no route {parts.path}")
            return
        key = (match["job"], int(match["n"]))
        owner = self.owner
        with owner.changed:
            rec = owner.attempts.get(key)
            if rec is None:
                self._error(404, "no such attempt")
                return
            if self.headers.get("authorization") != f"Bearer {rec.token}":
                self._error(403, "a job token can only be used by its job's worker routes")
                return
            rec.requests.append(f"{method} {match['route']}")
            if rec.fenced:
                self._error(409, "this attempt is no longer the job's current one")
                return
            drop = match["route"] == "logs" and rec.drop_after_logs > 0
            status, answer, content_type = self._route(
                rec, method, match["route"], match["i"], parts.query, body
            )
            if drop:
                rec.drop_after_logs -= 1
            owner.changed.notify_all()
        if drop:  # as a server that stored the chunk and died before it answered
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(status, answer, content_type)

    def _route(
        self,
        rec: AttemptRecord,
        method: str,
        route: str,
        index: str | None,
        query: str,
        body: bytes,
    ) -> tuple[int, bytes, str]:
        ok = (200, b"{}", "application/json")
        if (method, route) == ("GET", "work"):
            return 200, json.dumps(rec.work).encode(), "application/json"
        if (method, route) == ("GET", "snapshot") and rec.snapshot is not None:
            return 200, rec.snapshot, "application/gzip"
        if (method, route) == ("GET", "input") and rec.input is not None:
            return 200, rec.input, "application/vnd.corridor.payload"
        if (
            (method, route) == ("GET", "datasets")
            and index is not None
            and int(index) < len(rec.datasets)
        ):
            return 200, rec.datasets[int(index)], "application/vnd.apache.parquet"
        if (method, route) == ("POST", "started"):
            rec.started = json.loads(body)
            return 200, json.dumps({"cancel": rec.cancel}).encode(), "application/json"
        if (method, route) == ("POST", "heartbeat"):
            if rec.heartbeat_status is not None:
                return rec.heartbeat_status, b'{"error": {"message": "down"}}', "application/json"
            rec.heartbeats += 1
            return 200, json.dumps({"cancel": rec.cancel}).encode(), "application/json"
        if (method, route) == ("POST", "logs"):
            seq = int(parse_qs(query)["seq"][0])
            rec.log_chunks.setdefault(seq, body)  # idempotent on seq
            return ok
        if (method, route) == ("PUT", "result"):
            rec.result = body
            return ok
        if (method, route) == ("POST", "finished"):
            rec.finished = json.loads(body)
            return ok
        return 404, b'{"error": {"message": "not found"}}', "application/json"
