"""The local executor: the executor contract, plus what only a local process pool promises."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.compute.executors.base import Assignment, Executor
from corridor.compute.executors.local import LocalExecutor
from corridor.compute.executors.registry import open_executor
from corridor.compute.sansio.resources import Resources
from corridor.compute.sites import Site
from corridor.config import Settings
from corridor.errors import ConfigurationError
from tests.compute.executors.contract import (
    PROCESS_TREE_SCRIPT,
    TREE_PROCESSES,
    ExecutorContract,
    processes_with,
    wait_until,
)
from tests.compute.executors.loopback import LoopbackComputeServer, loopback_server, work
from tests.conftest import LiveServer, module_server

PRINT_ENV = "import os; print(repr(os.environ.get({name!r})))"


class TestLocalExecutor(ExecutorContract):
    @pytest.fixture(params=["standby", "cold"])
    def executor(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Executor]:
        standby = request.param == "standby"
        executor = LocalExecutor(tmp_path / "worker-logs", cancel_grace_s=2.0, standby=standby)
        yield executor
        executor.close()

    def env_seen_by_job(
        self,
        executor: Executor,
        host: LoopbackComputeServer,
        name: str,
        gpu_indices: tuple[int, ...] = (),
    ) -> bytes:
        code = PRINT_ENV.format(name=name)
        argv = [sys.executable, "-c", code]
        job_id, _ = self.launch(executor, host, work(argv=argv), gpu_indices=gpu_indices)
        return host.wait_for(job_id, 1, "finished").logs()

    def test_gpus_are_hidden_from_a_job_that_holds_none(
        self, executor: Executor, host: LoopbackComputeServer
    ) -> None:
        assert self.env_seen_by_job(executor, host, "CUDA_VISIBLE_DEVICES") == b"''\n"

    def test_a_job_sees_only_its_reserved_gpus(
        self, executor: Executor, host: LoopbackComputeServer
    ) -> None:
        seen = self.env_seen_by_job(executor, host, "CUDA_VISIBLE_DEVICES", gpu_indices=(1, 3))
        assert seen == b"'1,3'\n"

    def test_the_servers_own_settings_do_not_reach_a_job(
        self, executor: Executor, host: LoopbackComputeServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CORRIDOR_DATABASE_URL", "postgresql://secret@db/corridor")
        assert self.env_seen_by_job(executor, host, "CORRIDOR_DATABASE_URL") == b"None\n"

    @pytest.mark.parametrize(
        "secret",
        ["AWS_SECRET_ACCESS_KEY", "RAY_AUTH_TOKEN", "CORRIDOR_MASTER_KEY_FILE", "PGPASSWORD"],
    )
    def test_the_servers_credentials_reach_neither_the_worker_nor_the_job(
        self,
        host: LoopbackComputeServer,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        secret: str,
    ) -> None:
        # Set before the executor starts, so that its standby worker is started with it too.
        monkeypatch.setenv(secret, "hunter2")
        monkeypatch.setenv("LC_ALL", "C.UTF-8")
        executor = LocalExecutor(tmp_path / "worker-logs", cancel_grace_s=2.0, standby=True)
        try:
            code = (
                "import os; e = os.environ; print(sorted(k for k in e if 'hunter2' in e[k]),"
                " e.get('LC_ALL'), e.get('CORRIDOR_JOB_TOKEN') is not None,"
                " 'hunter2' in open(f'/proc/{os.getppid()}/environ').read())"
            )
            job_id, _ = self.launch(executor, host, work(argv=[sys.executable, "-c", code]))
            seen = host.wait_for(job_id, 1, "finished").logs()
        finally:
            executor.close()
        # Nothing holds the secret; the locale and the job's own token pass; nor does the
        # worker (the job's parent) hold it, whose environment the job could read.
        assert seen == b"[] C.UTF-8 True False\n"

    def test_a_handle_from_before_a_restart_reads_as_running(self, executor: Executor) -> None:
        assert executor.poll("0123abcd/1") == "running"

    def test_the_workers_own_output_goes_to_a_file_not_the_job_logs(
        self, tmp_path: Path, executor: Executor, host: LoopbackComputeServer
    ) -> None:
        job_id, _ = self.launch(executor, host, work(argv=["/nonexistent/program"]))
        record = host.wait_for(job_id, 1, "finished")
        assert record.finished is not None
        assert "No such file" in str(record.finished["error"])
        assert wait_until(lambda: (tmp_path / "worker-logs" / f"{job_id}-1.log").exists())


@pytest.mark.parametrize("standby", [True, False])
def test_a_worker_outlives_its_executor_in_a_session_of_its_own(
    tmp_path: Path, standby: bool
) -> None:
    executor = LocalExecutor(tmp_path / "logs", standby=standby)
    code = "import time; time.sleep(0.5); print('still here')"
    with loopback_server() as host:
        job_id = uuid.uuid4().hex
        token = host.add(job_id, 1, work(argv=[sys.executable, "-c", code]))
        executor.launch(Assignment(job_id, 1, "here", host.url, token, Resources()))
        started = host.wait_for(job_id, 1, "started").started
        assert started is not None
        worker_pid = started["pid"]
        assert isinstance(worker_pid, int)
        assert os.getsid(worker_pid) == worker_pid != os.getsid(0)
        executor.close()  # as a server that stops does
        assert host.wait_for(job_id, 1, "finished").logs() == b"still here\n"


def test_a_standby_that_died_is_replaced_by_a_cold_start(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path / "logs")
    try:
        [waiting] = executor._standby
        waiting[0].kill()
        waiting[0].wait()
        with loopback_server() as host:
            job_id = uuid.uuid4().hex
            token = host.add(job_id, 1, work(argv=[sys.executable, "-c", "print('cold')"]))
            assignment = Assignment(job_id, 1, "here", host.url, token, Resources())
            executor.launch(assignment)
            assert host.wait_for(job_id, 1, "finished").logs() == b"cold\n"
    finally:
        executor.close()


def test_closing_the_executor_dismisses_its_standby(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path / "logs")
    [waiting] = executor._standby
    executor.close()
    assert waiting[0].poll() == 0
    assert not list((tmp_path / "logs").glob("standby-*"))


def test_registry_opens_a_local_executor_for_a_local_site(tmp_path: Path) -> None:
    executor = open_executor(Site(name="here"), Settings(home=tmp_path))
    try:
        assert isinstance(executor, LocalExecutor)
        assert executor.capacity() is None
    finally:
        executor.close()


def test_registry_refuses_an_unknown_executor_naming_the_site(tmp_path: Path) -> None:
    site = Site(name="moon", executor="slurm")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="site 'moon': executor 'slurm'"):
        open_executor(site, Settings(home=tmp_path))


# End to end: a real Corridor server whose scheduler places jobs on its local site and launches
# them through this executor.


@pytest.fixture(scope="module")
def corridor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory, "local-executor") as live:
        with live.client() as http:
            assert http.post("/api/v1/projects", json={"name": "e2e"}).status_code == 201
        yield live


def submit(corridor: LiveServer, argv: list[str], **options: object) -> str:
    with corridor.client() as http:
        response = http.post("/api/v1/projects/e2e/jobs", json={"command": argv, **options})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def wait_job(corridor: LiveServer, job_id: str) -> dict[str, object]:
    with corridor.client() as http:
        for _ in range(20):
            job: dict[str, object] = http.get(f"/api/v1/jobs/{job_id}/wait?timeout_s=10").json()
            if job["state"] in ("succeeded", "failed", "cancelled"):
                return job
    raise AssertionError(f"job {job_id} never ended: {job}")


def job_logs(corridor: LiveServer, job_id: str) -> bytes:
    with corridor.client() as http:
        return http.get(f"/api/v1/jobs/{job_id}/logs").content


def test_a_command_job_runs_end_to_end_with_its_logs_exactly_as_written(
    corridor: LiveServer,
) -> None:
    code = "import sys; sys.stdout.buffer.write(b'\\x00bin\\xff'); sys.stderr.write('tail')"
    job_id = submit(corridor, [sys.executable, "-c", code])
    job = wait_job(corridor, job_id)
    assert (job["state"], job["exit_code"]) == ("succeeded", 0)
    assert job_logs(corridor, job_id) == b"\x00bin\xfftail"


def test_cancelling_a_job_on_the_server_leaves_none_of_its_processes(
    corridor: LiveServer, tmp_path: Path
) -> None:
    marker = f"corridor-test-{uuid.uuid4().hex}"
    script = tmp_path / "tree.py"
    script.write_text(PROCESS_TREE_SCRIPT)
    try:
        job_id = submit(corridor, [sys.executable, str(script), marker, "0"])
        assert wait_until(lambda: len(processes_with(marker)) == TREE_PROCESSES)
        with corridor.client() as http:
            assert http.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200
        assert wait_job(corridor, job_id)["state"] == "cancelled"
        assert wait_until(lambda: not processes_with(marker)), processes_with(marker)
    finally:
        for proc in processes_with(marker):
            proc.kill()


# Rank 0 listens where MASTER_ADDR/MASTER_PORT say; every other rank connects and sends its rank
# (retrying until rank 0 listens), so the job succeeds only if the whole gang ran at once.
GANG_SCRIPT = """
import os, socket, sys, time
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
address = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
assert os.environ["CORRIDOR_JOB_RANK"] == str(rank)
if rank == 0:
    server = socket.create_server(address)
    seen = [0]
    for _ in range(world - 1):
        conn, _ = server.accept()
        seen.append(int(conn.recv(16)))
    print("ranks", sorted(seen), "of", world)
else:
    for _ in range(200):
        try:
            socket.create_connection(address).sendall(str(rank).encode())
            break
        except ConnectionRefusedError:
            time.sleep(0.05)
    print("rank", rank, "done")
    sys.exit(int(sys.argv[1]) if rank == world - 1 else 0)
"""


@pytest.mark.parametrize(("last_rank_exit", "state"), [(0, "succeeded"), (3, "failed")])
def test_a_gang_runs_all_its_ranks_at_once_and_fails_with_any_of_them(
    corridor: LiveServer, tmp_path: Path, last_rank_exit: int, state: str
) -> None:
    script = tmp_path / "gang.py"
    script.write_text(GANG_SCRIPT)
    argv = [sys.executable, str(script), str(last_rank_exit)]
    job_id = submit(corridor, argv, workers=3, cpus=0.5)
    job = wait_job(corridor, job_id)
    assert job["state"] == state
    # The job's logs are rank 0's: the other ranks' output stays in their workers' own logs.
    assert job_logs(corridor, job_id) == b"ranks [0, 1, 2] of 3\n"
    if state == "failed":
        assert "rank 2" in str(job["error"])


PROBE = b"""
import os
import sys


def probe():
    return {
        "preloaded": "colorsys" in sys.modules,
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "job": os.environ.get("CORRIDOR_JOB_ID"),
        "declared": os.environ.get("GREETING"),
        "secret": os.environ.get("CORRIDOR_PRELOAD"),
    }
"""


@pytest.mark.parametrize("declares_env", [False, True])
def test_a_preloading_site_runs_function_jobs_in_an_interpreter_started_ahead(
    tmp_path: Path, declares_env: bool
) -> None:
    from corridor.compute.sansio import payload
    from tests.compute.test_worker import digest, snapshot_of

    executor = LocalExecutor(tmp_path / "logs", standby=2, preload=("colorsys",))
    archive = snapshot_of({"probe.py": PROBE})
    try:
        assert wait_until(lambda: len(executor._standby) == 2)
        with loopback_server() as host:
            job_id = uuid.uuid4().hex
            ref = {"module": "probe", "qualname": "probe", "source": "snapshot"}
            body = work(
                function=ref,
                snapshot=digest(archive),
                env={"GREETING": "hi"} if declares_env else None,
            )
            token = host.add(job_id, 1, body, snapshot=archive)
            executor.launch(Assignment(job_id, 1, "here", host.url, token, Resources()))
            record = host.wait_for(job_id, 1, "finished")
            assert record.finished is not None
            assert record.finished["error"] is None, record.logs()
            assert record.result is not None
            seen = payload.decode(record.result)
    finally:
        executor.close()
    assert isinstance(seen, dict)
    # A job that declares variables of its own starts cold: they might change an import.
    assert seen["preloaded"] is not declares_env
    assert Path(seen["cwd"]).name == "work"
    assert seen["path0"] == seen["cwd"]
    assert seen["job"] == job_id
    assert seen["declared"] == ("hi" if declares_env else None)
    assert seen["secret"] is None  # the worker's own settings stay out of the job


def test_a_site_declares_standby_workers_and_preloads_only_where_it_is_local(
    tmp_path: Path,
) -> None:
    from corridor.compute.sites import load_sites

    settings = Settings(home=tmp_path)
    config = tmp_path / "corridor.toml"
    config.write_text('[sites.box]\nstandby_workers = 2\npreload = ["torch"]\n')
    site = load_sites(settings)["box"]
    assert (site.standby_workers, site.preload) == (2, ("torch",))
    config.write_text('[sites.box]\npreload = ["torch; rm -rf"]\n')
    with pytest.raises(
        ConfigurationError, match=r"\[sites.box\] preload: must be a list of module"
    ):
        load_sites(settings)
    config.write_text('[sites.r]\nexecutor = "ray"\naddress = "h:1"\nstandby_workers = 2\n')
    with pytest.raises(ConfigurationError, match="applies only to sites with executor = 'local'"):
        load_sites(settings)
