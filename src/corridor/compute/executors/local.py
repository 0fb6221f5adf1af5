"""The local executor: each attempt is a worker process on this machine, in a session of its own.

The scheduler has already admitted the job against the site's CPU, memory and GPU slots; this
executor only starts the worker, hands it the GPUs reserved for it through
``CUDA_VISIBLE_DEVICES`` (empty: no GPU visible at all), and stops it on cancel. Workers start a
new session so that they outlive the server: a restarted server's loop adopts them through
their heartbeats, while this executor, whose handles lived in memory, no longer knows them —
``poll`` answers ``running`` for an unknown handle and leaves the verdict to the lease.

The worker's own stdout and stderr (its diagnostics, not the job's output, which goes to the
server) go to a file per attempt under the home's ``logs/workers``.

Starting an interpreter and importing the worker costs tens of milliseconds, most of the time
from submit to running. So the executor keeps workers in standby (``--standby``; one by
default, the site's ``standby_workers``): started ahead, imports done, blocked reading their
stdin. A launch writes the attempt's variables to one per rank and renames its log file; fresh
standbys are started behind them off the caller's thread. A standby that died is replaced by a
cold start, so standbys only ever save time. With the site's ``preload`` (module names), each
standby worker also starts the interpreter its function job will run in, and imports those
modules there while it waits (see ``corridor.compute.run_function``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

from corridor.compute import process_tree
from corridor.compute.executors.base import Assignment, Handle, PollState
from corridor.compute.job_environment import inherited
from corridor.compute.sansio.resources import Resources

if TYPE_CHECKING:
    from corridor.compute.sites import Site
    from corridor.config import Settings

WORKER_MODULE = "corridor.compute.worker"
CANCEL_GRACE_S = 5.0


def worker_log_dir(home: Path) -> Path:
    """Where workers' own diagnostics go (not the jobs' logs, which the server stores). Not
    under ``<home>/tmp``: that folder holds the data slice's workspaces, which the staging
    sweep judges by their owner locks."""
    return home / "logs" / "workers"


class LocalExecutor:
    """Starts ``python -m corridor.compute.worker`` per attempt on this machine."""

    def __init__(
        self,
        log_dir: Path,
        *,
        extra_env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        cancel_grace_s: float = CANCEL_GRACE_S,
        standby: int = 1,
        preload: tuple[str, ...] = (),
    ) -> None:
        self._log_dir = log_dir
        self._extra_env = dict(extra_env or {})
        self._python = python
        self._cancel_grace_s = cancel_grace_s
        self._workers: dict[Handle, subprocess.Popen[bytes]] = {}
        # A gang's ranks after the first, by the attempt's handle.
        self._followers: dict[Handle, list[subprocess.Popen[bytes]]] = {}
        self._lock = threading.Lock()
        self._standby_target = int(standby)
        self._standby: list[tuple[subprocess.Popen[bytes], Path]] = []
        self._standby_count = 0
        self._closed = False
        if preload:
            self._extra_env["CORRIDOR_PRELOAD"] = ",".join(preload)
        if self._standby_target:
            self._refill()

    @classmethod
    def from_site(cls, site: Site, settings: Settings) -> LocalExecutor:
        """An executor for ``site``: its power figures go to the workers' energy meters."""
        return cls(
            worker_log_dir(settings.home),
            extra_env={
                "CORRIDOR_WORKER_WATTS_PER_CPU": repr(float(site.watts_per_cpu)),
                "CORRIDOR_WORKER_WATTS_PER_GPU": repr(float(site.watts_per_gpu)),
            },
            standby=site.standby_workers,
            preload=site.preload,
        )

    def capacity(self) -> Resources | None:
        return None  # the site's declared (or machine-sized) capacity is the truth here

    def base_env(self) -> dict[str, str]:
        """What this process's environment lets a worker inherit (none of the server's
        settings or credentials), plus the site's figures for the meters."""
        env = inherited(os.environ)
        env.update(self._extra_env)
        return env

    @staticmethod
    def assignment_env(
        assignment: Assignment, rank: int = 0, rendezvous_port: int | None = None
    ) -> dict[str, str]:
        """The variables of one worker of an attempt: the worker's four, the GPUs it may see,
        and for a gang its rank and where rank 0 listens (``torch.distributed``'s variables)."""
        env = assignment.worker_env()
        env["CUDA_VISIBLE_DEVICES"] = ",".join(
            str(i) for i in rank_gpus(assignment.gpu_indices, assignment.workers, rank)
        )
        if assignment.workers > 1:
            env.update(
                {
                    "CORRIDOR_JOB_RANK": str(rank),
                    "CORRIDOR_JOB_WORLD_SIZE": str(assignment.workers),
                    "RANK": str(rank),
                    "LOCAL_RANK": str(rank),
                    "WORLD_SIZE": str(assignment.workers),
                    "MASTER_ADDR": "127.0.0.1",
                    "MASTER_PORT": str(rendezvous_port),
                }
            )
        return env

    def launch(self, assignment: Assignment) -> Handle:
        handle = f"{assignment.job_id}/{assignment.attempt}"
        log_path = self._log_dir / f"{assignment.job_id}-{assignment.attempt}.log"
        port = free_port() if assignment.workers > 1 else None
        proc = self._start_rank(assignment, 0, port, log_path)
        # A gang's other ranks start beside rank 0 (from standby while there are any, else
        # cold); the worker of rank 0 reports the attempt.
        followers = [
            self._start_rank(
                assignment, rank, port, log_path.with_name(f"{log_path.stem}-rank{rank}.log")
            )
            for rank in range(1, assignment.workers)
        ]
        with self._lock:
            self._workers[handle] = proc
            if followers:
                self._followers[handle] = followers
        if self._standby_target:
            threading.Thread(target=self._refill, name="worker-standby", daemon=True).start()
        return handle

    def _start_rank(
        self, assignment: Assignment, rank: int, port: int | None, log_path: Path
    ) -> subprocess.Popen[bytes]:
        proc = self._hand_to_standby(assignment, rank, log_path, port)
        return proc if proc is not None else self._start_cold(assignment, rank, port, log_path)

    def _start_cold(
        self, assignment: Assignment, rank: int, port: int | None, log_path: Path
    ) -> subprocess.Popen[bytes]:
        self._log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        env = {**self.base_env(), **self.assignment_env(assignment, rank, port)}
        with open(log_path, "ab") as log:
            return self._start([], env, log)

    def _start(
        self, args: list[str], env: dict[str, str], log: IO[bytes], *, stdin: int | None = None
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [self._python, "-m", WORKER_MODULE, *args],
            env=env,
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self._log_dir,
        )

    def _refill(self) -> None:
        """Start standby workers until ``standby`` of them are waiting."""
        while True:
            with self._lock:
                if len(self._standby) >= self._standby_target or self._closed:
                    return
                self._standby_count += 1
                log_path = self._log_dir / f"standby-{os.getpid()}-{self._standby_count}.log"
            self._log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(log_path, "ab") as log:
                proc = self._start(["--standby"], self.base_env(), log, stdin=subprocess.PIPE)
            with self._lock:
                if len(self._standby) < self._standby_target and not self._closed:
                    self._standby.append((proc, log_path))
                    continue
            _dismiss(proc)
            return

    def _hand_to_standby(
        self, assignment: Assignment, rank: int, log_path: Path, port: int | None
    ) -> subprocess.Popen[bytes] | None:
        with self._lock:
            waiting = self._standby.pop(0) if self._standby else None
        if waiting is None:
            return None
        proc, standby_log = waiting
        line = json.dumps(self.assignment_env(assignment, rank, port)).encode() + b"\n"
        try:
            assert proc.stdin is not None
            proc.stdin.write(line)
            proc.stdin.close()
        except (ValueError, OSError):
            _dismiss(proc)
            return None  # it died while waiting: start cold
        with contextlib.suppress(OSError):
            standby_log.rename(log_path)
        return proc

    def poll(self, handle: Handle) -> PollState:
        with self._lock:
            proc = self._workers.get(handle)
        if proc is None:
            return "running"  # launched before a restart: the lease decides
        code = proc.poll()
        with self._lock:
            followers = self._followers.get(handle, [])
        if any(f.poll() is not None and f.returncode < 0 for f in followers):
            return "lost"  # a rank was killed by a signal: the gang cannot finish
        if code is None or any(f.poll() is None for f in followers):
            return "running"  # a gang has exited when every rank has
        with self._lock:
            self._workers.pop(handle, None)
            for follower in self._followers.pop(handle, []):
                threading.Thread(target=follower.wait, name="worker-reaper", daemon=True).start()
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
        with self._lock:
            followers = self._followers.get(handle, [])
        for worker in [proc, *followers]:
            if worker is not None and worker.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGTERM)
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
        """Dismiss the standbys and forget the workers; they keep running and reporting."""
        with self._lock:
            self._closed = True
            waiting, self._standby = self._standby, []
            running = [
                proc
                for proc in itertools.chain(self._workers.values(), *self._followers.values())
                if proc.poll() is None
            ]
            self._workers.clear()
            self._followers.clear()
        for proc in running:
            # Someone must collect each worker's exit status when it ends, or it stays a zombie.
            threading.Thread(target=proc.wait, name="worker-reaper", daemon=True).start()
        for proc, log_path in waiting:
            _dismiss(proc)
            with contextlib.suppress(OSError):
                log_path.unlink()


def _dismiss(proc: subprocess.Popen[bytes]) -> None:
    """Let a standby go: closing its stdin ends it cleanly."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()  # a dead one's pipe is broken; closing may raise but still closes
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rank_gpus(indices: tuple[int, ...], workers: int, rank: int) -> tuple[int, ...]:
    """The devices of one rank: an equal share of the attempt's, or all of them when the
    ranks share devices (fractional GPUs)."""
    if workers <= 1 or len(indices) % workers:
        return indices
    share = len(indices) // workers
    return indices[rank * share : (rank + 1) * share]


def free_port() -> int:
    """A port nothing listens on now, for rank 0's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
