"""A real server on loopback for an in-process client's jobs.

An in-process client (``corridor.Client()`` over a local home) calls its app without a socket
and without the lifespan, which suits every slice but compute: workers are separate processes
that call the server over HTTP, and the scheduler loop lives in the server's lifespan. So on its
first compute call such a client starts this: uvicorn in a background thread, on 127.0.0.1 and
a port the kernel picks, with the lifespan, over the same home.

The port is not open to anyone who can reach loopback: every request needs a token, as on any
server. The client asks its in-process app (where it acts as the local administrator) for a
token of the home's administrator, named ``loopback`` and valid one day, and revokes it when the
client closes; both are audited like any token. Workers get their own job tokens as usual.

Workers are told to call back on 127.0.0.1, so only sites on this machine can run such a
client's jobs; a Ray cluster on other machines needs a `corridor server` they can reach.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

import httpx

from corridor.client.connection import Connection, error_from
from corridor.errors import ConfigurationError, CorridorError, Unavailable

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
CREDENTIAL_LABEL = "loopback"


class LoopbackServer:
    """A Corridor server in a thread of this process, and an HTTP client authorised for it."""

    def __init__(
        self,
        connection: Connection,
        url: str,
        token: tuple[str, str],
        thread: threading.Thread,
        server: Any,
    ) -> None:
        self._connection = connection
        self.url = url
        self._token_id, secret = token
        self._thread = thread
        self._server = server
        self._http = httpx.Client(
            base_url=url,
            headers={"authorization": f"Bearer {secret}", "user-agent": "corridor-client"},
            timeout=60.0,
        )

    @classmethod
    def start(cls, connection: Connection, *, timeout_s: float = START_TIMEOUT_S) -> LoopbackServer:
        """Start the server over ``connection``'s home and wait until it answers."""
        # Imported here: only an in-process client that runs jobs pays for the server's imports.
        import uvicorn

        from corridor.compute.scheduler_policy import load_policy
        from corridor.compute.sites import load_sites
        from corridor.runtime import Runtime
        from corridor.server.app import create_app

        # The scheduler reads these as the server starts: a mistake in them is the user's to
        # fix, so say it as it is rather than as a server that failed to start.
        load_sites(connection.settings)
        load_policy(connection.settings)
        admin = _admin_name(connection)
        issued = connection.request(
            "POST", "/api/v1/tokens", json={"name": CREDENTIAL_LABEL, "user": admin, "ttl_days": 1}
        ).json()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        # Workers call back here, whatever the home's settings advertise for its own server.
        settings = connection.settings.model_copy(update={"advertise_url": url})
        runtime = Runtime(settings)
        config = uvicorn.Config(
            create_app(runtime),
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
            server_header=False,
        )
        server = uvicorn.Server(config)

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            finally:
                sock.close()
                runtime.close()

        thread = threading.Thread(target=serve, name="corridor-loopback", daemon=True)
        thread.start()
        loopback = cls(connection, url, (str(issued["id"]), str(issued["token"])), thread, server)
        loopback._wait_ready(timeout_s)
        return loopback

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                self._http.close()
                self._revoke()
                raise Unavailable("the loopback server for jobs stopped while starting")
            if self._server.started:
                return
            time.sleep(0.02)
        self.stop()
        raise Unavailable(f"the loopback server for jobs did not start within {timeout_s:.0f} s")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; an error reply becomes the matching ``CorridorError``."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach the loopback server at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from(response)
        return response

    def stop(self) -> None:
        """Let requests in flight finish, stop the server and its loops, revoke the token."""
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S + float(self._server.config.timeout_graceful_shutdown))
        self._http.close()
        self._revoke()

    def _revoke(self) -> None:
        # Best effort: the token expires within a day anyway.
        with contextlib.suppress(CorridorError):
            self._connection.request("DELETE", f"/api/v1/tokens/{self._token_id}")


def _admin_name(connection: Connection) -> str:
    users = connection.request("GET", "/api/v1/users").json()
    for user in users:
        if user.get("is_admin") and not user.get("disabled"):
            return str(user["name"])
    raise ConfigurationError(
        "running jobs from an in-process client needs an enabled administrator in the home "
        "(`corridor init` makes one); or connect to a server with a URL"
    )
