"""The guard between a Ray task and a job's worker (``python -m ...executors.ray_guard``).

A Ray task that runs a job starts this process, which starts the worker and waits for it. It
exists for the one event the worker cannot see coming: the death of the Ray worker process that
ran the task, which is what a lost node (or a force-cancelled task) looks like on this machine.
The kernel tells the guard (``PR_SET_PDEATHSIG``); the guard then kills the worker outright, so
it reports nothing, and the job's whole tree by its marker, so nothing of the attempt keeps
running, just as if the node had gone down with it. The server then declares the attempt lost
and retries it elsewhere, without counting it against the job's retries.

A SIGTERM (the task was cancelled) is passed on to the worker, which kills its job and reports
the end as usual; a worker that has not ended after the grace period is killed with its tree.
Its own exit status is the worker's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

WORKER_MODULE = "corridor.compute.worker"
PR_SET_PDEATHSIG = 1
LOST_SIGNAL = signal.SIGUSR1
TERM_GRACE_S = 10.0
KILL_GRACE_S = 1.0
EXIT_LOST = 128 + 9


def die_with_parent(parent_pid: int) -> bool:
    """Ask for LOST_SIGNAL when ``parent_pid`` (our parent) dies; False if it is gone already
    or the platform has no such request (then the node's loss leaves it to the lease)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(LOST_SIGNAL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    # The parent may have died before the request was made: then no signal ever comes.
    return os.getppid() == parent_pid


class Guard:
    """Runs the worker; SIGTERM is passed on, LOST_SIGNAL kills everything silently."""

    def __init__(self, marker: tuple[str, int]) -> None:
        self.marker = marker
        self.worker: subprocess.Popen[bytes] | None = None
        self.lost = threading.Event()
        self.terminate = threading.Event()

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Flags only; the main thread does the killing.
        (self.lost if signum == LOST_SIGNAL else self.terminate).set()

    def run(self) -> int:
        self.worker = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE], stdin=subprocess.DEVNULL
        )
        forwarded = False
        term_deadline = 0.0
        while True:
            try:
                code = self.worker.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                code = None
            if self.lost.is_set():
                self.kill_everything()
                return EXIT_LOST
            if code is not None:
                return code
            if self.terminate.is_set() and not forwarded:
                forwarded = True
                term_deadline = time.monotonic() + TERM_GRACE_S
                self.worker.send_signal(signal.SIGTERM)
            elif forwarded and time.monotonic() > term_deadline:
                self.kill_everything()
                return self.worker.wait()

    def kill_everything(self) -> None:
        """The worker first, so it cannot report, then every process of the attempt."""
        from corridor.compute import process_tree

        assert self.worker is not None
        if self.worker.poll() is None:
            self.worker.kill()
        self.worker.wait()
        process_tree.kill_tree(marker=self.marker, grace_s=KILL_GRACE_S)


def main(argv: list[str] | None = None) -> int:
    """``--parent PID``: the Ray worker process whose death means the node is lost."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "--parent" or not args[1].isdigit():
        print("usage: python -m corridor.compute.executors.ray_guard --parent PID", file=sys.stderr)
        return 2
    try:
        marker = (os.environ["CORRIDOR_JOB_ID"], int(os.environ["CORRIDOR_JOB_ATTEMPT"]))
    except (KeyError, ValueError):
        print("ray_guard: CORRIDOR_JOB_ID and CORRIDOR_JOB_ATTEMPT must be set", file=sys.stderr)
        return 2
    guard = Guard(marker)
    signal.signal(LOST_SIGNAL, guard.on_signal)
    signal.signal(signal.SIGTERM, guard.on_signal)
    if not die_with_parent(int(args[1])):
        return EXIT_LOST  # the task's process died before the worker could even start
    return guard.run()


if __name__ == "__main__":
    sys.exit(main())
