"""The compute slice's lifespan hook: the scheduler loop of a server process.

The loop runs in a thread of its own (its work is blocking database and executor calls) and
ticks when a submit or cancel wakes it, and at least every `TICK_S`. Only one process schedules
per database: it holds the ``compute_scheduler_lease`` row, renewed every tick, and a process
that finds the row held by another live holder waits (a second server over the same database
serves requests but launches nothing). On a clean shutdown the loop stops and releases the
row; running jobs are left alone, since their workers keep heartbeating and a restarted server
adopts them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from corridor.compute.models import SchedulerLease
from corridor.store import leases
from corridor.store.base import utcnow
from corridor.store.db import Database

if TYPE_CHECKING:
    from corridor.runtime import Runtime

log = logging.getLogger("corridor.compute")

TICK_S = 0.5
LEASE_NAME = "scheduler"
LEASE_TTL_S = 5.0

_wake = threading.Event()


def wake() -> None:
    """Ask the loop of this process (if one runs) to tick now: a job was submitted or changed."""
    _wake.set()


def take_lease(db: Database, holder: str, *, now: dt.datetime, ttl_s: float = LEASE_TTL_S) -> bool:
    """Hold (or renew) the scheduler row for ``holder``; False if another live holder has it."""
    return leases.take_lease(db, SchedulerLease, LEASE_NAME, holder, now=now, ttl_s=ttl_s)


def release_lease(db: Database, holder: str) -> None:
    leases.release_lease(db, SchedulerLease, LEASE_NAME, holder)


class SchedulerLoop:
    """The thread that ticks the scheduler while this process holds the lease."""

    def __init__(self, runtime: Runtime, *, tick_s: float = TICK_S) -> None:
        from corridor.compute.scheduling import Scheduling

        self.runtime = runtime
        self.tick_s = tick_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:128]
        self.scheduling = Scheduling(runtime)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="corridor-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        _wake.set()
        self._thread.join()

    def _run(self) -> None:
        leading = False
        woken = True
        try:
            while not self._stop.is_set():
                _wake.clear()
                try:
                    held = take_lease(self.runtime.db, self.holder, now=utcnow())
                    if held != leading:
                        log.info("scheduler lease %s", "taken" if held else "held elsewhere")
                        leading = held
                        woken = True
                    if held:
                        self.scheduling.tick(woken=woken)
                    failed = False
                except Exception:
                    # A tick that fails (the database away for a moment) is retried in full.
                    log.exception("scheduler tick failed")
                    failed = True
                woken = _wake.wait(self.tick_s) or failed
        finally:
            self.scheduling.close()
            if leading:
                try:
                    release_lease(self.runtime.db, self.holder)
                except Exception:
                    log.exception("releasing the scheduler lease failed")


@asynccontextmanager
async def running(runtime: Runtime) -> AsyncIterator[None]:
    """Run the scheduler loop for as long as the server runs.

    The sites are read first: a malformed ``[sites]`` table stops the server from starting,
    with the file, site and key named, rather than leaving it to accept jobs it cannot place.
    """
    from corridor.compute.site_table import current_sites

    current_sites(runtime.settings)
    loop = SchedulerLoop(runtime)
    loop.start()
    try:
        yield
    finally:
        await asyncio.to_thread(loop.stop)
