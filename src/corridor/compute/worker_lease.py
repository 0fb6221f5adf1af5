"""The worker's heartbeat: it keeps the attempt's lease, and hears cancels and fencing.

Every ``heartbeat_s`` the worker posts a heartbeat; the answer says whether the user asked to
cancel, and a 409 says the attempt was fenced off (the server gave the job to another attempt).
A worker that has had no acknowledged heartbeat for ``lease_s`` must stop its job on its own:
the server declares the attempt lost only after ``lease_s`` and a margin from the last
heartbeat it received, so the old job is dead before a new attempt can start.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from corridor.compute.worker_link import NETWORK_ERRORS, Fenced, LinkError, WorkerLink

StopReason = Literal["cancel", "fenced", "lease"]


class Heartbeat:
    """A daemon thread that heartbeats until ``stop``; ``reason`` says why the job must stop."""

    def __init__(
        self, link: WorkerLink, *, heartbeat_s: float, lease_s: float, wake: threading.Event
    ) -> None:
        self._link = link
        self._heartbeat_s = heartbeat_s
        self._lease_s = lease_s
        self._wake = wake
        self._stopped = threading.Event()
        self.last_ack = time.monotonic()
        self.reason: StopReason | None = None
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)

    def start(self) -> None:
        self.last_ack = time.monotonic()
        self._thread.start()

    def lease_lost(self) -> bool:
        """No heartbeat acknowledged for the whole lease: the server may have given up on us."""
        return self.reason in ("fenced", "lease") or (
            time.monotonic() - self.last_ack >= self._lease_s
        )

    def signal(self, reason: StopReason) -> None:
        if self.reason is None or reason != "cancel":
            self.reason = reason
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._heartbeat_s):
            self.beat()
            if self.reason in ("fenced", "lease"):
                return

    def beat(self) -> None:
        """Send one heartbeat now and act on its answer."""
        try:
            answer = self._link.post_json("heartbeat", {})
        except Fenced:
            self.signal("fenced")
            return
        except (LinkError, *NETWORK_ERRORS) as exc:
            self.last_error = str(exc)
            if time.monotonic() - self.last_ack >= self._lease_s:
                self.signal("lease")
            return
        self.last_ack = time.monotonic()
        if answer.get("cancel") is True:
            self.signal("cancel")

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._heartbeat_s + 35)
