"""The executor contract: what every backend must do, written once and subclassed per backend.

A subclass provides the ``executor`` fixture (and may narrow ``site``); each test launches a real
worker through the executor against a real HTTP server on loopback (``loopback.py``) and checks
what reached the server and which processes are left on this machine.
"""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from corridor.compute.executors.base import Assignment, Executor, Handle
from corridor.compute.sansio.resources import Resources
from tests.compute.executors.loopback import LoopbackComputeServer, loopback_server, work

# A job whose processes leave its process group in both ways a daemon does: a grandchild in a
# new session, and a double-forked, setsid'd great-grandchild whose parent exits at once.
PROCESS_TREE_SCRIPT = """\
import os, subprocess, sys, time
marker, level = sys.argv[1], int(sys.argv[2])
me = [sys.executable, __file__, marker]
if level == 0:
    subprocess.Popen(me + ["1"])
    print("main up", flush=True)
    time.sleep(1000)
elif level == 1:
    subprocess.Popen(me + ["2"], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(1000)
        os._exit(0)
    time.sleep(1000)
else:
    time.sleep(1000)
"""
TREE_PROCESSES = 4  # main, child, setsid grandchild, double-forked daemon


def processes_with(marker: str) -> list[psutil.Process]:
    """Live (non-zombie) processes with ``marker`` in their command line."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and marker in proc.cmdline():
                found.append(proc)
        except psutil.Error:
            continue
    return found


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class ExecutorContract:
    """Subclass per backend and provide ``executor``."""

    site = "test-site"

    @pytest.fixture
    def executor(self) -> Iterator[Executor]:
        raise NotImplementedError("a backend's test class provides its executor")

    @pytest.fixture
    def marker(self) -> Iterator[str]:
        """A unique argv word for a test's job processes; what still carries it is killed after."""
        word = f"corridor-test-{uuid.uuid4().hex}"
        yield word
        for proc in processes_with(word):
            with contextlib.suppress(psutil.Error):
                proc.kill()

    @pytest.fixture
    def tree_script(self, tmp_path: Path) -> Path:
        path = tmp_path / "tree.py"
        path.write_text(PROCESS_TREE_SCRIPT)
        return path

    @pytest.fixture
    def host(self) -> Iterator[LoopbackComputeServer]:
        with loopback_server() as server:
            yield server

    def launch(
        self,
        executor: Executor,
        host: LoopbackComputeServer,
        body: dict[str, object],
        *,
        gpu_indices: tuple[int, ...] = (),
        **extra: object,
    ) -> tuple[str, Handle]:
        job_id = uuid.uuid4().hex
        token = host.add(job_id, 1, body, **extra)
        assignment = Assignment(
            job_id=job_id,
            attempt=1,
            site=self.site,
            server_url=host.url,
            token=token,
            resources=Resources(cpus=1.0),
            gpu_indices=gpu_indices,
        )
        return job_id, executor.launch(assignment)

    def test_is_an_executor(self, executor: Executor) -> None:
        assert isinstance(executor, Executor)

    def test_command_runs_to_success_and_reports_its_end(
        self, executor: Executor, host: LoopbackComputeServer
    ) -> None:
        job_id, handle = self.launch(
            executor, host, work(argv=[sys.executable, "-c", "print('hello from the job')"])
        )
        record = host.wait_for(job_id, 1, "finished")
        assert record.finished is not None
        assert record.finished["exit_code"] == 0
        assert record.finished["error"] is None
        assert record.logs() == b"hello from the job\n"
        assert record.started is not None
        assert wait_until(lambda: executor.poll(handle) == "exited")

    def test_failing_command_reports_its_exit_code(
        self, executor: Executor, host: LoopbackComputeServer
    ) -> None:
        job_id, handle = self.launch(
            executor, host, work(argv=[sys.executable, "-c", "import sys; sys.exit(3)"])
        )
        record = host.wait_for(job_id, 1, "finished")
        assert record.finished is not None
        assert record.finished["exit_code"] == 3
        assert record.finished["error"] == "exited with status 3"
        assert wait_until(lambda: executor.poll(handle) != "running")

    def test_logs_arrive_exactly_as_written(
        self, executor: Executor, host: LoopbackComputeServer
    ) -> None:
        code = (
            "import sys; sys.stdout.buffer.write(b'out\\x00\\xff\\r\\n'); sys.stdout.flush(); "
            "sys.stderr.buffer.write(b'err-no-newline'); sys.stderr.flush()"
        )
        job_id, _ = self.launch(executor, host, work(argv=[sys.executable, "-c", code]))
        record = host.wait_for(job_id, 1, "finished")
        assert record.logs() == b"out\x00\xff\r\nerr-no-newline"

    def test_cancel_kills_the_whole_tree_and_leaves_no_orphans(
        self, executor: Executor, host: LoopbackComputeServer, marker: str, tree_script: Path
    ) -> None:
        _, handle = self.launch(
            executor, host, work(argv=[sys.executable, str(tree_script), marker, "0"])
        )
        assert wait_until(lambda: len(processes_with(marker)) == TREE_PROCESSES)
        executor.cancel(handle)
        assert wait_until(lambda: not processes_with(marker)), processes_with(marker)
        assert wait_until(lambda: executor.poll(handle) != "running")

    def test_cancel_heard_in_a_heartbeat_kills_the_tree_and_reports_cancelled(
        self, executor: Executor, host: LoopbackComputeServer, marker: str, tree_script: Path
    ) -> None:
        job_id, _ = self.launch(
            executor, host, work(argv=[sys.executable, str(tree_script), marker, "0"])
        )
        assert wait_until(lambda: len(processes_with(marker)) == TREE_PROCESSES)
        host.update(job_id, 1, cancel=True)
        record = host.wait_for(job_id, 1, "finished")
        assert record.finished is not None
        assert record.finished["error"] == "cancelled"
        assert record.logs() == b"main up\n"
        assert not processes_with(marker)

    def test_fenced_attempt_kills_its_job_and_reports_nothing_more(
        self, executor: Executor, host: LoopbackComputeServer, marker: str, tree_script: Path
    ) -> None:
        job_id, handle = self.launch(
            executor, host, work(argv=[sys.executable, str(tree_script), marker, "0"])
        )
        assert wait_until(lambda: len(processes_with(marker)) == TREE_PROCESSES)
        host.update(job_id, 1, fenced=True)
        assert wait_until(lambda: not processes_with(marker)), processes_with(marker)
        assert wait_until(lambda: executor.poll(handle) != "running")
        assert host.record(job_id, 1).finished is None

    def test_timeout_kills_the_job_and_says_so(
        self, executor: Executor, host: LoopbackComputeServer, marker: str, tree_script: Path
    ) -> None:
        job_id, _ = self.launch(
            executor,
            host,
            work(argv=[sys.executable, str(tree_script), marker, "0"], timeout_s=1.5),
        )
        record = host.wait_for(job_id, 1, "finished")
        assert record.finished is not None
        assert record.finished["error"] == "timed out after 1.5 s"
        assert record.finished["exit_code"] == 128 + 15  # SIGTERM
        assert not processes_with(marker)
