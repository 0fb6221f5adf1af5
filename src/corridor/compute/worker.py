"""The job worker: ``python -m corridor.compute.worker`` runs one attempt of one job.

Every executor starts this same process, with ``CORRIDOR_URL``, ``CORRIDOR_JOB_ID``,
``CORRIDOR_JOB_ATTEMPT`` and ``CORRIDOR_JOB_TOKEN`` in its environment. It asks the server for
its work, unpacks the code snapshot into a fresh directory, runs the command or function as a
process group of its own, streams the output, heartbeats, and reports the result, the exit code,
the CPU time and the energy. It talks to the server only over HTTP with a token that opens
nothing but this attempt's routes, so a machine that runs jobs needs the server URL and Python.

It imports only the standard library on its way to starting the job (a worker start is on the
path from submit to running; ``python -X importtime`` shows it): no httpx, pydantic or SQLAlchemy.
Its own exit status is the job's, so an executor that sees only the process still learns it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from corridor.compute.worker_lease import Heartbeat
from corridor.compute.worker_link import (
    NETWORK_ERRORS,
    AttemptAddress,
    Fenced,
    JsonObject,
    LinkError,
    WorkerLink,
)

if TYPE_CHECKING:
    from corridor.compute.job_process import WarmInterpreter

EXIT_BAD_SETUP = 2
# SIGTERM's status: what a job cancelled a moment later would have ended with.
EXIT_CANCELLED_BEFORE_START = 143
# How long a starting worker retries a server it cannot reach: the default lease.
STARTUP_RETRY_S = 10.0


class SetupError(Exception):
    """The job could not be prepared (bad work description, unsafe snapshot, server refusal)."""


@dataclass(frozen=True)
class Work:
    """What the server's ``work`` route says to run, checked."""

    kind: str
    argv: list[str]
    function: JsonObject | None
    env: dict[str, str]
    snapshot: str | None
    has_input: bool
    timeout_s: float | None
    heartbeat_s: float
    lease_s: float
    datasets: list[str]
    gpus: float
    gpu_indices: tuple[int, ...]

    @classmethod
    def parse(cls, data: JsonObject) -> Work:
        kind = data.get("kind")
        argv = data.get("argv") or []
        function = data.get("function")
        env = data.get("env") or {}
        if kind not in ("command", "function"):
            raise SetupError(f"work has unknown kind {kind!r}")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise SetupError("work argv must be a list of strings")
        if kind == "command" and not argv:
            raise SetupError("a command job needs a non-empty argv")
        if kind == "function" and not (
            isinstance(function, dict)
            and isinstance(function.get("module"), str)
            and isinstance(function.get("qualname"), str)
        ):
            raise SetupError("a function job needs a function {module, qualname}")
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise SetupError("work env must map strings to strings")
        snapshot = data.get("snapshot")
        timeout_s = data.get("timeout_s")
        datasets = data.get("datasets") or []
        if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
            raise SetupError("work datasets must be a list of dataset references")
        resources = data.get("resources")
        gpus = resources.get("gpus") if isinstance(resources, dict) else 0
        indices = data.get("gpu_indices") or []
        if not isinstance(indices, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in indices
        ):
            raise SetupError("work gpu_indices must be a list of device numbers")
        return cls(
            kind=kind,
            argv=list(argv),
            function=function if isinstance(function, dict) else None,
            env=dict(env),
            snapshot=snapshot if isinstance(snapshot, str) else None,
            has_input=data.get("has_input") is True,
            timeout_s=float(timeout_s) if isinstance(timeout_s, int | float) else None,
            heartbeat_s=_positive(data.get("heartbeat_s"), 1.0),
            lease_s=_positive(data.get("lease_s"), 10.0),
            datasets=list(datasets),
            gpus=float(gpus) if isinstance(gpus, int | float) else 0.0,
            gpu_indices=tuple(indices),
        )


def _positive(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) and value > 0 else default


def address_from_env(environ: dict[str, str]) -> AttemptAddress:
    """The attempt this worker serves, from its environment; SetupError naming what is missing."""
    missing = [
        name
        for name in (
            "CORRIDOR_URL",
            "CORRIDOR_JOB_ID",
            "CORRIDOR_JOB_ATTEMPT",
            "CORRIDOR_JOB_TOKEN",
        )
        if not environ.get(name)
    ]
    if missing:
        raise SetupError(f"the worker needs {', '.join(missing)} in its environment")
    try:
        attempt = int(environ["CORRIDOR_JOB_ATTEMPT"])
    except ValueError:
        raise SetupError("CORRIDOR_JOB_ATTEMPT must be a whole number") from None
    return AttemptAddress(
        environ["CORRIDOR_URL"], environ["CORRIDOR_JOB_ID"], attempt, environ["CORRIDOR_JOB_TOKEN"]
    )


def temp_root(environ: dict[str, str]) -> Path:
    """Where work directories and the snapshot cache live (``CORRIDOR_WORKER_TMP`` overrides)."""
    explicit = environ.get("CORRIDOR_WORKER_TMP")
    root = Path(explicit) if explicit else Path(tempfile.gettempdir()) / "corridor-worker"
    root.mkdir(parents=True, exist_ok=True)
    return root


class Worker:
    """One attempt, from fetching its work to reporting its end."""

    def __init__(
        self, address: AttemptAddress, root: Path, warm: WarmInterpreter | None = None
    ) -> None:
        self.address = address
        self.warm = warm
        self.link = WorkerLink(address)
        self.root = root
        self.wake = threading.Event()
        self.terminated = False

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        # A flag and a wake-up only: the main loop does the killing.
        self.terminated = True
        self.wake.set()

    def run(self) -> int:
        """Fetch the work, run it, report; the job's exit status."""
        from corridor.compute.job_process import JobProcess, prepare
        from corridor.compute.snapshot_unpack import UnsafeSnapshot

        work = Work.parse(self._retrying(lambda: self.link.get_json("work")))
        attempt_dir = Path(tempfile.mkdtemp(prefix="job-", dir=self.root))
        try:
            try:
                argv = prepare(self.link, work, attempt_dir, self.root / "snapshots")
            except (UnsafeSnapshot, LinkError) as exc:
                if isinstance(exc, Fenced):
                    raise
                raise SetupError(str(exc)) from exc
            heartbeat = Heartbeat(
                # Own connection, short timeout: a stuck request must not outlast the lease.
                WorkerLink(self.address, timeout_s=max(1.0, work.lease_s / 3)),
                heartbeat_s=work.heartbeat_s,
                lease_s=work.lease_s,
                wake=self.wake,
            )
            if self.started().get("cancel") is True:
                # Cancelled between placement and now: the job never starts.
                self.link.post_json("finished", {"exit_code": None, "error": "cancelled"})
                return EXIT_CANCELLED_BEFORE_START
            heartbeat.start()
            job = JobProcess(
                self.link,
                work,
                attempt_dir,
                heartbeat,
                wake=self.wake,
                terminated=lambda: self.terminated,
                warm=self.warm,
            )
            self.warm = None
            try:
                return job.run(argv)
            finally:
                heartbeat.stop()
        finally:
            if self.warm is not None:
                self.warm.dismiss()
            shutil.rmtree(attempt_dir, ignore_errors=True)

    def started(self) -> JsonObject:
        """Report in; the answer says whether the job was cancelled meanwhile."""
        body = {"host": socket.gethostname(), "pid": os.getpid()}
        return self._retrying(lambda: self.link.post_json("started", body))

    def _retrying(self, call: Callable[[], JsonObject]) -> JsonObject:
        """``call()``, retried through network errors (a server restarting) for a lease's time."""
        deadline = time.monotonic() + STARTUP_RETRY_S
        while True:
            try:
                return call()
            except NETWORK_ERRORS:
                if time.monotonic() >= deadline or self.terminated:
                    raise
                time.sleep(0.2)

    def fail_setup(self, error: str) -> None:
        """Report a job that could not be started; best effort, the lease covers the rest."""
        try:
            try:
                self.started()
            except LinkError as exc:
                if isinstance(exc, Fenced):
                    return
            self.link.post_json("finished", {"exit_code": None, "error": error})
        except (LinkError, *NETWORK_ERRORS):
            pass


def standby() -> tuple[bool, WarmInterpreter | None]:
    """Wait, fully imported, for an assignment: one JSON line of variables on stdin.

    An executor keeps workers in standby so that a launch costs a pipe write instead of an
    interpreter start and its imports. With ``CORRIDOR_PRELOAD`` (the site's ``preload``), the
    interpreter of a function job is started now too, and imports those modules while it waits.
    False when stdin closes first (the executor let it go).
    """
    import importlib
    import json

    # The point of a standby: these imports happen now, not after the launch.
    for module in ("corridor.compute.job_process", "corridor.compute.energy.registry"):
        importlib.import_module(module)
    from corridor.compute.job_process import WarmInterpreter
    from corridor.compute.process_tree import become_subreaper

    become_subreaper()  # loads ctypes: better now than after the launch
    preload = os.environ.get("CORRIDOR_PRELOAD", "")
    warm = WarmInterpreter(preload) if preload else None

    line = sys.stdin.readline()
    if not line.strip():
        if warm is not None:
            warm.dismiss()
        return False, None
    variables = json.loads(line)
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        raise SetupError("a standby worker's assignment must map variable names to strings")
    os.environ.update(variables)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return True, warm


def main(argv: list[str] | None = None) -> int:
    """The worker's entry point; its exit status is the job's (2: the job could not start)."""
    args = sys.argv[1:] if argv is None else argv
    warm: WarmInterpreter | None = None
    if args == ["--standby"]:
        try:
            assigned, warm = standby()
            if not assigned:
                return 0
        except (SetupError, ValueError) as exc:
            print(f"corridor worker: {exc}", file=sys.stderr)
            return EXIT_BAD_SETUP
    elif args:
        if args[0] in ("-h", "--help"):
            print(__doc__)
            return 0
        print(f"corridor worker: unknown arguments {' '.join(args)}", file=sys.stderr)
        return EXIT_BAD_SETUP
    environ = dict(os.environ)
    try:
        address = address_from_env(environ)
        worker = Worker(address, temp_root(environ), warm)
    except (SetupError, ValueError, OSError) as exc:
        print(f"corridor worker: {exc}", file=sys.stderr)
        return EXIT_BAD_SETUP
    signal.signal(signal.SIGTERM, worker.on_sigterm)
    from corridor.compute.process_tree import become_subreaper

    become_subreaper()
    try:
        return worker.run()
    except Fenced:
        print("corridor worker: the server fenced this attempt off; stopping", file=sys.stderr)
        return EXIT_BAD_SETUP
    except (SetupError, LinkError) as exc:
        print(f"corridor worker: {exc}", file=sys.stderr)
        worker.fail_setup(str(exc))
        return EXIT_BAD_SETUP
    except NETWORK_ERRORS as exc:
        # A connection that failed, or the machine's own trouble (a full disk): say which.
        print(f"corridor worker ({address.server_url}): {exc}", file=sys.stderr)
        worker.fail_setup(f"the worker on {socket.gethostname()} failed: {exc}")
        return EXIT_BAD_SETUP


if __name__ == "__main__":
    sys.exit(main())
