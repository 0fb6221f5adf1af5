"""The pipelines slice's lifespan hook: schedules, triggers, the run queue and the watchdog.

One server process per database runs the loop: the one holding the ``pipeline_loop_lease`` row,
renewed every tick (as compute's scheduler holds its own row). A second server over the same
database serves requests and leaves the loop to the holder; when the holder stops, its row
expires and another takes over. Every piece of state lives in rows (a schedule's
``next_fire_at``, a trigger's ``last_seen``, a run's state), so a restarted server or a new
leader carries on from the database, never from a previous process's memory.

A tick does four things, each in short transactions of its own so that one broken schedule or
run never holds up the others: fire due schedules, fire dataset and alias triggers, start
queued runs within each pipeline's concurrency limit, and fail runs whose driver is gone.
The loop never imports user code: driver jobs do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from corridor.pipelines.loop import schedules, starts, triggers
from corridor.pipelines.models import LoopLease
from corridor.store import leases
from corridor.store.base import utcnow
from corridor.store.db import Database

if TYPE_CHECKING:
    from corridor.runtime import Runtime

log = logging.getLogger("corridor.pipelines")

TICK_S = 1.0
LEASE_NAME = "pipelines"
LEASE_TTL_S = 10.0


def take_lease(db: Database, holder: str, *, now: dt.datetime, ttl_s: float = LEASE_TTL_S) -> bool:
    """Hold (or renew) the loop's row for ``holder``; False while another live holder has it."""
    return leases.take_lease(db, LoopLease, LEASE_NAME, holder, now=now, ttl_s=ttl_s)


def release_lease(db: Database, holder: str) -> None:
    leases.release_lease(db, LoopLease, LEASE_NAME, holder)


@dataclass
class TickReport:
    """What one tick did (run ids), for logs and tests."""

    scheduled: list[str] = field(default_factory=list)
    triggered: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def tick(
    runtime: Runtime,
    now: dt.datetime | None = None,
    *,
    server_started_at: dt.datetime | None = None,
) -> TickReport:
    """Do one round of the loop's work as of ``now`` (tests pass a fake clock).

    ``server_started_at`` is when this process started: a client-driven run is failed only
    once its driver has been silent for the grace period counted from the later of its last
    report and this moment, so a server that was down does not fail runs on its first tick.
    """
    now = now or utcnow()
    db = runtime.db
    report = TickReport()
    parts: list[tuple[str, Callable[[], list[str]], list[str]]] = [
        ("schedules", lambda: schedules.fire_due(db, now), report.scheduled),
        ("triggers", lambda: triggers.fire_new(db, now), report.triggered),
        ("queue", lambda: starts.start_queued(runtime, now), report.started),
        ("watchdog", lambda: starts.fail_silent(runtime, now, server_started_at), report.failed),
    ]
    for name, part, into in parts:
        try:
            into.extend(part())
        except Exception:
            # One part failing (the database away for a moment) must not stop the others;
            # its work is all in rows, so the next tick redoes it.
            log.exception("pipelines loop: %s failed", name)
    if report.scheduled or report.triggered or report.started or report.failed:
        log.info(
            "pipelines loop: %d runs scheduled, %d triggered, %d started, %d failed",
            len(report.scheduled),
            len(report.triggered),
            len(report.started),
            len(report.failed),
        )
    return report


class PipelinesLoop:
    """The thread that ticks while this process holds the lease."""

    def __init__(self, runtime: Runtime, *, tick_s: float = TICK_S) -> None:
        self.runtime = runtime
        self.tick_s = tick_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:128]
        self.started_at = utcnow()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="corridor-pipelines", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        leading = False
        try:
            while not self._stop.is_set():
                try:
                    held = take_lease(self.runtime.db, self.holder, now=utcnow())
                    if held != leading:
                        log.info("pipelines loop lease %s", "taken" if held else "held elsewhere")
                        leading = held
                    if held:
                        tick(self.runtime, server_started_at=self.started_at)
                except Exception:
                    log.exception("pipelines loop tick failed")
                self._stop.wait(self.tick_s)
        finally:
            if leading:
                try:
                    release_lease(self.runtime.db, self.holder)
                except Exception:
                    log.exception("releasing the pipelines loop lease failed")


@asynccontextmanager
async def running(runtime: Runtime, *, tick_s: float = TICK_S) -> AsyncIterator[None]:
    """Run the loop for as long as the server runs."""
    loop = PipelinesLoop(runtime, tick_s=tick_s)
    loop.start()
    try:
        yield
    finally:
        await asyncio.to_thread(loop.stop)
