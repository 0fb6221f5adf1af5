"""One job's process, from its start to its report: the worker's main loop.

The job runs in a session (so a process group) of its own, with stdout and stderr merged into
one pipe. The loop waits for the first of: the job's exit, a cancel or fence heard by the
heartbeat, the lease lost, the timeout, or SIGTERM to the worker; all but the first kill the
whole tree. When the job's main process ends, whatever it left running in the background is
killed too: a job ends when its process does, and a leftover holding the pipe would keep the
logs open forever. Reports go out in order (every log chunk, then the result, then ``finished``),
each retried through a server restart until the lease is lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from corridor.compute import process_tree
from corridor.compute.job_environment import ATTEMPT_VARIABLES, inherited
from corridor.compute.snapshot_unpack import cached_archive, unpack
from corridor.compute.worker_lease import Heartbeat
from corridor.compute.worker_link import NETWORK_ERRORS, Fenced, LinkError, WorkerLink
from corridor.compute.worker_logs import LogShipper

if TYPE_CHECKING:
    from corridor.compute.energy.base import EnergyReading
    from corridor.compute.energy.registry import MeterSet
    from corridor.compute.worker import Work

KILL_GRACE_S = 3.0
LEFTOVER_GRACE_S = 1.0
REPORT_RETRY_S = 0.5
TICK_S = 0.2
RESULT_FILE = "result.payload"
ERROR_FILE = "error.txt"
INPUT_FILE = "input.payload"
RUN_FUNCTION = "corridor.compute.run_function"


def prepare(link: WorkerLink, work: Work, attempt_dir: Path, cache_dir: Path) -> list[str]:
    """Unpack the snapshot into ``attempt_dir/work``, fetch the input; return the argv to run."""
    workdir = attempt_dir / "work"
    workdir.mkdir()
    if work.snapshot is not None:
        archive = cached_archive(cache_dir, work.snapshot, lambda: link.request("GET", "snapshot"))
        unpack(archive, workdir)
    if work.kind == "command":
        return work.argv
    assert work.function is not None
    argv = [
        sys.executable,
        "-m",
        RUN_FUNCTION,
        str(work.function["module"]),
        str(work.function["qualname"]),
        "--source",
        str(work.function.get("source") or "snapshot"),
        "--result",
        str(attempt_dir / RESULT_FILE),
        "--error",
        str(attempt_dir / ERROR_FILE),
    ]
    if work.datasets:
        import json

        argv += ["--datasets", json.dumps(work.datasets)]
    if work.has_input:
        (attempt_dir / INPUT_FILE).write_bytes(link.request("GET", "input"))
        argv += ["--input", str(attempt_dir / INPUT_FILE)]
    return argv


class WarmInterpreter:
    """An interpreter started ahead for the next function job, preloading the site's modules
    (``python -m corridor.compute.run_function --standby``). In a session of its own from the
    start, like a job; its output is a pipe the job's logs are read from."""

    def __init__(self, preload: str) -> None:
        env = inherited(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env["CORRIDOR_PRELOAD"] = preload
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", RUN_FUNCTION, "--standby"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=tempfile.gettempdir(),
        )

    def hand(
        self, argv: list[str], env: dict[str, str], cwd: Path
    ) -> subprocess.Popen[bytes] | None:
        """Give it the job (``argv`` as a cold start's, without the interpreter and module);
        None if it has died meanwhile."""
        proc, self.proc = self.proc, None
        if proc is None or proc.stdin is None:
            return None
        line = json.dumps({"argv": argv, "env": env, "cwd": str(cwd)}).encode() + b"\n"
        try:
            proc.stdin.write(line)
            proc.stdin.close()
        except (ValueError, OSError):
            proc.kill()
            proc.wait()
            return None
        return proc

    def dismiss(self) -> None:
        """Let it go unused (a command job, or a job that declares its own environment)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def job_env(work: Work) -> dict[str, str]:
    """What the job may inherit from the worker, the attempt's own variables (the server's
    URL, the job's id, attempt and token, its rank), and the job's declared variables."""
    env = inherited(os.environ)
    env.update({k: v for k, v in os.environ.items() if k in ATTEMPT_VARIABLES})
    env.update(work.env)
    env.pop("CORRIDOR_WORKER_TMP", None)
    if work.kind == "function":
        env["PYTHONUNBUFFERED"] = "1"  # a function's prints reach the logs as they happen
    return env


class JobProcess:
    """Runs ``argv`` for one attempt and reports how it ended."""

    def __init__(
        self,
        link: WorkerLink,
        work: Work,
        attempt_dir: Path,
        heartbeat: Heartbeat,
        *,
        wake: threading.Event,
        terminated: Callable[[], bool],
        warm: WarmInterpreter | None = None,
    ) -> None:
        self.link = link
        self.warm = warm
        self.work = work
        self.attempt_dir = attempt_dir
        self.heartbeat = heartbeat
        self.wake = wake
        self.terminated = terminated
        self.marker = (link.address.job_id, link.address.attempt)
        # A gang's ranks after the first run beside rank 0: their output goes to their own
        # worker's log (the job's logs are rank 0's), and each reports its end; the attempt
        # succeeds once every rank has, and the first failure ends it for all.
        self.rank = int(os.environ.get("CORRIDOR_JOB_RANK") or 0)
        self.gang = "CORRIDOR_JOB_RANK" in os.environ

    def run(self, argv: list[str]) -> int:
        """Run the job to its end; return its exit status (128 + N when killed by signal N)."""
        meters = _open_meters(self.work)
        rusage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        if meters is not None:
            meters.start()
        try:
            proc = self._adopt_warm(argv)
            if proc is None:
                proc = subprocess.Popen(
                    argv,
                    cwd=self.attempt_dir / "work",
                    env=job_env(self.work),
                    stdin=subprocess.DEVNULL,
                    stdout=None if self.rank else subprocess.PIPE,
                    stderr=None if self.rank else subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            # A shell's convention: 127 not found, 126 found but not runnable.
            status = 127 if isinstance(exc, FileNotFoundError) else 126
            reading = meters.stop() if meters is not None else None
            self._finished(status, f"cannot start {argv[0]!r}: {exc.strerror or exc}", reading, 0.0)
            return status
        logs: LogShipper | None = None
        if proc.stdout is not None and self.rank:
            # A warm interpreter's output is a pipe; a later rank's belongs in the worker's log.
            threading.Thread(
                target=_copy_to_stdout, args=(proc.stdout.fileno(),), daemon=True
            ).start()
        elif proc.stdout is not None:
            logs = LogShipper(
                self.link,
                proc.stdout.fileno(),
                give_up=self.heartbeat.lease_lost,
                on_fenced=lambda: self.heartbeat.signal("fenced"),
            )
            logs.start()
        waiter = threading.Thread(target=self._wait, args=(proc,), name="job-wait", daemon=True)
        waiter.start()

        reason = self._until_end(proc)
        self._kill(proc, KILL_GRACE_S if reason else LEFTOVER_GRACE_S)
        waiter.join()
        process_tree.reap_orphans(None)
        if logs is not None and proc.stdout is not None:
            logs.join(timeout_s=self.work.lease_s)
            proc.stdout.close()
        reading = meters.stop() if meters is not None else None
        rusage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = (rusage_after.ru_utime - rusage_before.ru_utime) + (
            rusage_after.ru_stime - rusage_before.ru_stime
        )
        assert proc.returncode is not None
        status = _exit_status(proc.returncode)
        if reason in ("fenced", "lease") or (logs is not None and logs.failed == "fenced"):
            return status  # the server has moved on: report nothing
        error = self._error(reason, proc.returncode)
        if self.rank:
            # The attempt ends when every rank has reported (a function's result is rank 0's).
            error = f"rank {self.rank}: {error}" if error is not None else None
            self._finished(status, error, reading, cpu_s)
            return status
        if error is None and self.work.kind == "function":
            error = self._send_result()
        self._finished(status, error, reading, cpu_s)
        return status

    def _adopt_warm(self, argv: list[str]) -> subprocess.Popen[bytes] | None:
        """The warm interpreter, given this job, if there is one and the job can use it: a
        function job that declares no variables of its own (they might change how the
        preloaded modules were imported)."""
        warm, self.warm = self.warm, None
        if warm is None:
            return None
        if self.work.kind != "function" or self.work.env or argv[1:3] != ["-m", RUN_FUNCTION]:
            warm.dismiss()
            return None
        return warm.hand(argv[3:], job_env(self.work), self.attempt_dir / "work")

    def _wait(self, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        self.wake.set()

    def _until_end(self, proc: subprocess.Popen[bytes]) -> str | None:
        """Wait for the job's exit (None) or a reason to kill it first."""
        deadline = (
            time.monotonic() + self.work.timeout_s if self.work.timeout_s is not None else None
        )
        while True:
            tick = (
                TICK_S if deadline is None else max(0.0, min(TICK_S, deadline - time.monotonic()))
            )
            self.wake.wait(tick)
            self.wake.clear()
            if proc.returncode is not None:
                return None
            if self.terminated():
                return "terminated"
            if self.heartbeat.reason is not None:
                return self.heartbeat.reason
            if self.heartbeat.lease_lost():
                return "lease"
            if deadline is not None and time.monotonic() >= deadline:
                return "timeout"
            process_tree.reap_orphans(proc.pid)

    def _kill(self, proc: subprocess.Popen[bytes], grace_s: float) -> None:
        process_tree.kill_tree(
            roots=[proc.pid] if proc.returncode is None else [],
            groups=[proc.pid],
            marker=self.marker,
            rank=self.rank if self.gang else None,
            own_descendants=True,
            grace_s=grace_s,
        )

    def _error(self, reason: str | None, returncode: int) -> str | None:
        if reason == "timeout":
            assert self.work.timeout_s is not None
            return f"timed out after {self.work.timeout_s:g} s"
        if reason == "cancel":
            return "cancelled"
        if reason == "terminated":
            return "the worker was stopped (SIGTERM) and killed its job"
        if returncode == 0:
            return None
        if self.work.kind == "function":
            path = self.attempt_dir / ERROR_FILE
            if path.is_file():
                return path.read_text(encoding="utf-8", errors="replace")[:100_000]
        if returncode < 0:
            return f"killed by signal {-returncode}"
        return f"exited with status {returncode}"

    def _send_result(self) -> str | None:
        path = self.attempt_dir / RESULT_FILE
        if not path.is_file():
            return "the function ended without writing its result"
        data = path.read_bytes()
        try:
            sent = self.report(
                lambda: self.link.request(
                    "PUT", "result", body=data, content_type="application/vnd.corridor.payload"
                )
            )
        except LinkError as exc:
            return f"the result could not be stored: {exc}"
        return None if sent else "the result could not be sent"

    def _finished(
        self, status: int, error: str | None, reading: EnergyReading | None, cpu_s: float
    ) -> None:
        body: dict[str, object] = {
            "exit_code": status,
            "error": error,
            "energy_j": reading.joules if reading is not None else None,
            "energy_method": (reading.method or "none") if reading is not None else "none",
            "cpu_s": max(0.0, reading.cpu_s if reading and reading.cpu_s is not None else cpu_s),
            "by_device": dict(reading.by_device) if reading is not None else {},
            "rank": self.rank,
        }
        try:
            self.report(lambda: self.link.post_json("finished", body))
        except LinkError as exc:
            # Refused for a reason other than fencing: nothing to retry; the lease ends the attempt.
            print(f"corridor worker: the server refused the job's end: {exc}", file=sys.stderr)

    def report(self, send: Callable[[], object]) -> bool:
        """Retry ``send`` through network errors until it lands (True), is fenced or the lease is
        lost (False). An error status other than 409 propagates."""
        while True:
            try:
                send()
                return True
            except Fenced:
                return False
            except NETWORK_ERRORS:
                if self.heartbeat.lease_lost():
                    return False
                time.sleep(REPORT_RETRY_S)


def _copy_to_stdout(fd: int) -> None:
    while chunk := os.read(fd, 65536):
        os.write(1, chunk)


def _exit_status(returncode: int) -> int:
    """A shell's convention: killed by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _open_meters(work: Work) -> MeterSet | None:
    """The job's energy meters; None where the meter package is unavailable."""
    try:
        from corridor.compute.energy.registry import open_meters
    except ImportError:
        return None
    from corridor.compute.energy.registry import DEFAULT_WATTS_PER_CPU, DEFAULT_WATTS_PER_GPU

    return open_meters(
        _env_float("CORRIDOR_WORKER_WATTS_PER_CPU", DEFAULT_WATTS_PER_CPU),
        _env_float("CORRIDOR_WORKER_WATTS_PER_GPU", DEFAULT_WATTS_PER_GPU),
        work.gpu_indices,
        gpu_fraction=work.gpus if 0 < work.gpus < 1 else 1.0,
    )


def _env_float(name: str, default: float) -> float:
    """A site's power figure, passed down by the executor that started this worker."""
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return default
