"""The guard between a Ray task and a job's worker (``python -m ...executors.ray_guard``).

A Ray task that runs a job starts this process, which starts the worker and waits for it. It
exists for the one event the worker cannot see coming: the death of the Ray worker process that
ran the task, which is what a lost node (or a force-cancelled task) looks like on this machine.
The guard then kills the worker outright, so that it reports nothing, and the job's whole tree
by its marker, so that nothing of the attempt keeps running, as if the node had gone down with
it. The server then declares the attempt lost and retries it elsewhere, without counting it
against the job's retries.

The guard leaves the Ray worker's family at once (it forks, and the launching parent exits):
an exiting Ray worker SIGKILLs its own children, which would take the guard before it could act,
while the worker, a grandchild, would survive and report. So the guard watches the Ray worker
through a pidfd (or by polling its pid where there is none) and talks to the Ray task through a
pipe: ``pid N`` once it runs, ``exit CODE`` at the end. A SIGTERM (the task was cancelled) is
passed on to the worker, which kills its job and reports the end as usual; a worker that has
not ended after the grace period is killed with its tree.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import TextIO

WORKER_MODULE = "corridor.compute.worker"
TERM_GRACE_S = 10.0
KILL_GRACE_S = 1.0
TICK_S = 0.1
EXIT_LOST = 128 + 9


class ParentWatch:
    """Whether the Ray worker process ``pid`` still lives, without being its child."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fd: int | None = None
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is not None:
            try:
                self.fd = pidfd_open(pid)
            except ProcessLookupError:
                self.fd = -1
            except OSError:
                self.fd = None  # no pidfd on this kernel: poll the pid

    def alive(self) -> bool:
        if self.fd == -1:
            return False
        if self.fd is not None:
            readable, _, _ = select.select([self.fd], [], [], 0)
            return not readable  # a pidfd turns readable when its process exits
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class Guard:
    """Runs the worker; SIGTERM is passed on, the Ray worker's death kills all silently."""

    def __init__(self, marker: tuple[str, int], parent: ParentWatch, report: TextIO) -> None:
        self.marker = marker
        self.parent = parent
        self.report = report
        self.terminate = threading.Event()

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.terminate.set()  # a flag only: the main loop acts

    def run(self) -> int:
        if not self.parent.alive():
            return EXIT_LOST  # the task's process died before the worker could even start
        worker = subprocess.Popen([sys.executable, "-m", WORKER_MODULE], stdin=subprocess.DEVNULL)
        self.say(f"pid {os.getpid()}")
        term_deadline: float | None = None
        while True:
            try:
                code = worker.wait(timeout=TICK_S)
            except subprocess.TimeoutExpired:
                code = None
            if not self.parent.alive():
                self.kill_everything(worker)
                return EXIT_LOST
            if code is not None:
                return code
            if self.terminate.is_set() and term_deadline is None:
                term_deadline = time.monotonic() + TERM_GRACE_S
                worker.send_signal(signal.SIGTERM)
            elif term_deadline is not None and time.monotonic() > term_deadline:
                self.kill_everything(worker)
                return worker.wait()

    def kill_everything(self, worker: subprocess.Popen[bytes]) -> None:
        """The worker first, so that it cannot report, then every process of the attempt."""
        from corridor.compute import process_tree

        if worker.poll() is None:
            worker.kill()
        worker.wait()
        process_tree.kill_tree(marker=self.marker, grace_s=KILL_GRACE_S)

    def say(self, line: str) -> None:
        try:
            self.report.write(line + "\n")
            self.report.flush()
        except OSError:
            pass  # the task is gone; the parent watch notices


def main(argv: list[str] | None = None) -> int:
    """``--parent PID --report-fd FD``: the Ray worker process to watch, the pipe to report to."""
    args = sys.argv[1:] if argv is None else argv
    if (
        len(args) != 4
        or args[0::2] != ["--parent", "--report-fd"]
        or not all(a.isdigit() for a in args[1::2])
    ):
        print(
            "usage: python -m corridor.compute.executors.ray_guard --parent PID --report-fd FD",
            file=sys.stderr,
        )
        return 2
    parent_pid, report_fd = int(args[1]), int(args[3])
    try:
        marker = (os.environ["CORRIDOR_JOB_ID"], int(os.environ["CORRIDOR_JOB_ATTEMPT"]))
    except (KeyError, ValueError):
        print("ray_guard: CORRIDOR_JOB_ID and CORRIDOR_JOB_ATTEMPT must be set", file=sys.stderr)
        return 2
    if os.fork() > 0:
        os._exit(0)  # the launcher ends here; the guard is no longer the Ray worker's child
    with os.fdopen(report_fd, "w") as report:
        guard = Guard(marker, ParentWatch(parent_pid), report)
        signal.signal(signal.SIGTERM, guard.on_sigterm)
        code = guard.run()
        guard.say(f"exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
