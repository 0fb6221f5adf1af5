"""The local executor: each attempt is a worker process on this machine, in a session of its own.

The scheduler has already admitted the job against the site's CPU, memory and GPU slots; this
executor only starts the worker, hands it the GPUs reserved for it through
``CUDA_VISIBLE_DEVICES`` (empty: no GPU visible at all), and stops it on cancel. Workers start a
new session so that they outlive the server: a restarted server's loop adopts them through
their heartbeats, while this executor, whose handles lived in memory, no longer knows them —
``poll`` answers ``running`` for an unknown handle and leaves the verdict to the lease.

The worker's own stdout and stderr (its diagnostics, not the job's output, which goes to the
server) go to a file per attempt under the home's ``tmp/workers``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from corridor.compute import process_tree
from corridor.compute.executors.base import Assignment, Handle, PollState
from corridor.compute.sansio.resources import Resources

if TYPE_CHECKING:
    from corridor.compute.sites import Site
    from corridor.config import Settings

WORKER_MODULE = "corridor.compute.worker"
CANCEL_GRACE_S = 5.0


def worker_log_dir(home: Path) -> Path:
    """Where workers' own diagnostics go (not the jobs' logs, which the server stores)."""
    return home / "tmp" / "workers"


class LocalExecutor:
    """Starts ``python -m corridor.compute.worker`` per attempt on this machine."""

    def __init__(
        self,
        log_dir: Path,
        *,
        extra_env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        cancel_grace_s: float = CANCEL_GRACE_S,
    ) -> None:
        self._log_dir = log_dir
        self._extra_env = dict(extra_env or {})
        self._python = python
        self._cancel_grace_s = cancel_grace_s
        self._workers: dict[Handle, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_site(cls, site: Site, settings: Settings) -> LocalExecutor:
        """An executor for ``site``: its power figures go to the workers' energy meters."""
        return cls(
            worker_log_dir(settings.home),
            extra_env={
                "CORRIDOR_WORKER_WATTS_PER_CPU": repr(float(site.watts_per_cpu)),
                "CORRIDOR_WORKER_WATTS_PER_GPU": repr(float(site.watts_per_gpu)),
            },
        )

    def capacity(self) -> Resources | None:
        return None  # the site's declared (or machine-sized) capacity is the truth here

    def worker_env(self, assignment: Assignment) -> dict[str, str]:
        """This process's environment without its own CORRIDOR_ settings (the database URL and
        key files are the server's, not the job's), plus the worker's variables and GPUs."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRIDOR_")}
        env.update(self._extra_env)
        env.update(assignment.worker_env())
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in assignment.gpu_indices)
        return env

    def launch(self, assignment: Assignment) -> Handle:
        handle = f"{assignment.job_id}/{assignment.attempt}"
        self._log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self._log_dir / f"{assignment.job_id}-{assignment.attempt}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [self._python, "-m", WORKER_MODULE],
                env=self.worker_env(assignment),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self._log_dir,
            )
        with self._lock:
            self._workers[handle] = proc
        return handle

    def poll(self, handle: Handle) -> PollState:
        with self._lock:
            proc = self._workers.get(handle)
        if proc is None:
            return "running"  # launched before a restart: the lease decides
        code = proc.poll()
        if code is None:
            return "running"
        with self._lock:
            self._workers.pop(handle, None)
        # Killed by a signal (OOM killer, kill -9): it could not report its end.
        return "lost" if code < 0 else "exited"

    def cancel(self, handle: Handle) -> None:
        """Ask the worker to stop (it kills its job's tree and reports), then make sure, in the
        background so the scheduler's loop never waits out the grace period."""
        with self._lock:
            proc = self._workers.get(handle)
        job_id, _, attempt = handle.partition("/")
        if not attempt.isdigit():
            return
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        threading.Thread(
            target=self._finish_cancel,
            args=(proc, job_id, int(attempt)),
            name=f"cancel-{handle}",
            daemon=True,
        ).start()

    def _finish_cancel(
        self, proc: subprocess.Popen[bytes] | None, job_id: str, attempt: int
    ) -> None:
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(self._cancel_grace_s)
        # Whatever is left: the worker if it hung, and any of the job's processes by marker.
        process_tree.kill_tree(
            roots=[proc.pid] if proc is not None and proc.poll() is None else [],
            groups=[proc.pid] if proc is not None else [],
            marker=(job_id, attempt),
            grace_s=self._cancel_grace_s,
        )
        if proc is not None:
            proc.poll()

    def close(self) -> None:
        """Forget the workers; they keep running and reporting to the server."""
        with self._lock:
            for proc in self._workers.values():
                proc.poll()
            self._workers.clear()
