"""The worker's HTTP link to the server: the job-token routes of one attempt, stdlib only.

A worker must start in tens of milliseconds on any machine that has Python, so this speaks
``http.client`` rather than the SDK's httpx. One connection per thread (``http.client`` is not
thread-safe): the heartbeat, the log shipper and the main thread each keep their own
keep-alive connection. A network error (server restarting, connection reset) is retried by the
caller's policy; a 409 is the server fencing this attempt off and is never retried.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

JsonObject = dict[str, object]

REQUEST_TIMEOUT_S = 30.0


class LinkError(Exception):
    """The server answered with an error status other than 409."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Fenced(LinkError):
    """409: this attempt is no longer the job's current, live one; stop without reporting."""


NETWORK_ERRORS = (OSError, http.client.HTTPException)
"""What a dropped or refused connection raises; worth a retry, unlike an error status."""


@dataclass(frozen=True)
class AttemptAddress:
    """Where one attempt's routes are, and the token that opens them."""

    server_url: str
    job_id: str
    attempt: int
    token: str

    @property
    def prefix(self) -> str:
        base = urlsplit(self.server_url).path.rstrip("/")
        return f"{base}/api/v1/jobs/{self.job_id}/attempts/{self.attempt}"


class _Connection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        # Small requests and answers: never wait for a delayed ACK (Nagle's 40 ms).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _SecureConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class WorkerLink:
    """Requests to one attempt's worker routes."""

    def __init__(self, address: AttemptAddress, *, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        parts = urlsplit(address.server_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"CORRIDOR_URL {address.server_url!r} is not an http(s) URL")
        self.address = address
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._timeout_s = timeout_s
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._scheme == "https":
                conn = _SecureConnection(self._host, self._port, timeout=self._timeout_s)
            else:
                conn = _Connection(self._host, self._port, timeout=self._timeout_s)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(
        self,
        method: str,
        route: str,
        *,
        body: bytes | None = None,
        content_type: str = "application/json",
        query: str = "",
    ) -> bytes:
        """Send one request to ``route`` under the attempt's prefix; return the body of a 2xx."""
        path = f"{self.address.prefix}/{route}" + (f"?{query}" if query else "")
        headers: Mapping[str, str] = {
            "authorization": f"Bearer {self.address.token}",
            "content-type": content_type,
            "accept": "*/*",
        }
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=dict(headers))
            response = conn.getresponse()
            data = response.read()
        except NETWORK_ERRORS:
            # A half-used connection cannot be trusted for the next request.
            self._drop_connection()
            raise
        if response.getheader("connection", "").lower() == "close":
            self._drop_connection()
        if response.status == 409:
            raise Fenced(409, _message(data))
        if not 200 <= response.status < 300:
            raise LinkError(response.status, _message(data))
        return data

    def get_json(self, route: str) -> JsonObject:
        data = json.loads(self.request("GET", route))
        if not isinstance(data, dict):
            raise LinkError(200, f"{route} answered {type(data).__name__}, not an object")
        return data

    def post_json(self, route: str, payload: Mapping[str, object]) -> JsonObject:
        raw = self.request("POST", route, body=json.dumps(payload).encode())
        data = json.loads(raw) if raw.strip() else {}
        return data if isinstance(data, dict) else {}

    def close(self) -> None:
        self._drop_connection()


def _message(data: bytes) -> str:
    """The server's error message, from its JSON error body when it has one."""
    try:
        body = json.loads(data)
    except ValueError:
        return data[:500].decode("utf-8", "replace")
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(body.get("detail"), str):
            return str(body["detail"])
    return data[:500].decode("utf-8", "replace")
