"""The worker process on its own, against a real loopback server that speaks the worker routes.

The executor contract (tests/compute/executors) covers what every backend shares; these tests
run ``python -m corridor.compute.worker`` directly for what is the worker's alone: snapshots,
function jobs, the lease, its exit status, its imports.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.compute.sansio import payload
from tests.compute.executors.contract import (
    PROCESS_TREE_SCRIPT,
    TREE_PROCESSES,
    processes_with,
    wait_until,
)
from tests.compute.executors.loopback import (
    AttemptRecord,
    LoopbackComputeServer,
    loopback_server,
    work,
)

TASKS = b"""\
def add(a, b):
    return a + b

def shout(word):
    if word == "bad":
        raise ValueError("no bad words")
    return word.upper()

def unsendable():
    return object()
"""


def snapshot_of(files: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def host() -> Iterator[LoopbackComputeServer]:
    with loopback_server() as server:
        yield server


@pytest.fixture
def marker() -> Iterator[str]:
    word = f"corridor-test-{uuid.uuid4().hex}"
    yield word
    for proc in processes_with(word):
        proc.kill()


class WorkerRun:
    """Starts workers for attempts added to ``host``, with a temp root of the test's own."""

    def __init__(self, host: LoopbackComputeServer, tmp_path: Path) -> None:
        self.host = host
        self.root = tmp_path / "worker-tmp"

    def env(self, job_id: str, attempt: int, token: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRIDOR_")}
        env.update(
            CORRIDOR_URL=self.host.url,
            CORRIDOR_JOB_ID=job_id,
            CORRIDOR_JOB_ATTEMPT=str(attempt),
            CORRIDOR_JOB_TOKEN=token,
            CORRIDOR_WORKER_TMP=str(self.root),
        )
        return env

    def start(
        self, body: dict[str, object], *, job: str | None = None, **extra: object
    ) -> tuple[str, subprocess.Popen[bytes]]:
        job_id = job or uuid.uuid4().hex
        attempt = len([k for k in self.host.attempts if k[0] == job_id]) + 1
        token = self.host.add(job_id, attempt, body, **extra)
        proc = subprocess.Popen(
            [sys.executable, "-m", "corridor.compute.worker"],
            env=self.env(job_id, attempt, token),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        return job_id, proc

    def run(
        self,
        body: dict[str, object],
        *,
        snapshot: bytes | None = None,
        input: bytes | None = None,
        drop_after_logs: int = 0,
        cancel: bool = False,
    ) -> tuple[int, AttemptRecord, str]:
        """Run a worker to its end: its exit status, the attempt's record, its own output."""
        job_id, proc = self.start(
            body, snapshot=snapshot, input=input, drop_after_logs=drop_after_logs, cancel=cancel
        )
        out, _ = proc.communicate(timeout=120)
        return proc.returncode, self.host.record(job_id, 1), out.decode()


@pytest.fixture
def worker(host: LoopbackComputeServer, tmp_path: Path) -> WorkerRun:
    return WorkerRun(host, tmp_path)


def test_the_workers_exit_status_is_the_jobs(worker: WorkerRun) -> None:
    code, record, _ = worker.run(work(argv=[sys.executable, "-c", "raise SystemExit(7)"]))
    assert code == 7
    assert record.finished is not None
    assert record.finished["exit_code"] == 7


def test_a_worker_without_its_environment_refuses_naming_what_is_missing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRIDOR_")}
    env["CORRIDOR_URL"] = "http://127.0.0.1:9"
    result = subprocess.run(
        [sys.executable, "-m", "corridor.compute.worker"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "CORRIDOR_JOB_ID, CORRIDOR_JOB_ATTEMPT, CORRIDOR_JOB_TOKEN" in result.stderr


def test_the_worker_imports_neither_httpx_nor_pydantic_nor_sqlalchemy() -> None:
    code = (
        "import sys, corridor.compute.worker, corridor.compute.job_process, "
        "corridor.compute.energy.registry; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'httpx', 'pydantic', 'sqlalchemy', 'numpy', 'pyarrow', 'fastapi'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_output_larger_than_a_chunk_arrives_whole_in_numbered_chunks(worker: WorkerRun) -> None:
    blob = bytes(range(256)) * 1024  # 256 KiB, every byte value
    code = (
        f"import sys; sys.stdout.buffer.write(bytes(range(256)) * 1024); print('{'end'}', end='')"
    )
    _, record, _ = worker.run(work(argv=[sys.executable, "-c", code]))
    assert record.logs() == blob + b"end"
    assert sorted(record.log_chunks) == list(range(len(record.log_chunks)))
    assert len(record.log_chunks) >= 4
    assert max(len(c) for c in record.log_chunks.values()) <= 64 * 1024


def test_a_command_runs_in_its_unpacked_snapshot_and_the_archive_is_cached(
    worker: WorkerRun,
) -> None:
    archive = snapshot_of(
        {
            "data/message.txt": b"from the snapshot",
            "show.py": b"print(open('data/message.txt').read())",
        }
    )
    body = work(argv=[sys.executable, "show.py"], snapshot=digest(archive))
    job_id, first = worker.start(body, snapshot=archive)
    first.communicate(timeout=120)
    assert worker.host.record(job_id, 1).logs() == b"from the snapshot\n"
    _, second = worker.start(body, job=job_id, snapshot=archive)
    second.communicate(timeout=120)
    record = worker.host.record(job_id, 2)
    assert record.logs() == b"from the snapshot\n"
    assert "GET snapshot" in worker.host.record(job_id, 1).requests
    assert "GET snapshot" not in record.requests


@pytest.mark.parametrize(
    ("files", "links", "why"),
    [
        ({"../escaped.txt": b"x"}, {}, "climbs out with '..'"),
        ({"/tmp/absolute.txt": b"x"}, {}, "is an absolute path"),
        ({}, {"passwd": "/etc/passwd"}, "outside the snapshot"),
        ({}, {"deep/link": "../../outside"}, "outside the snapshot"),
    ],
)
def test_an_unsafe_snapshot_fails_the_job_and_writes_nothing(
    worker: WorkerRun, files: dict[str, bytes], links: dict[str, str], why: str
) -> None:
    archive = snapshot_of({"ok.txt": b"fine", **files}, links=links)
    body = work(argv=[sys.executable, "-c", "print('must not run')"], snapshot=digest(archive))
    code, record, _ = worker.run(body, snapshot=archive)
    assert code == 2
    assert record.finished is not None
    assert why in str(record.finished["error"])
    assert record.logs() == b""
    assert not (worker.root / "escaped.txt").exists()
    assert not list(worker.root.glob("job-*"))  # the attempt's directory is gone too


def test_a_snapshot_whose_bytes_do_not_match_its_digest_is_refused(worker: WorkerRun) -> None:
    archive = snapshot_of({"a.txt": b"a"})
    body = work(argv=[sys.executable, "-c", "print(1)"], snapshot="0" * 64)
    _, record, _ = worker.run(body, snapshot=archive)
    assert record.finished is not None
    assert f"arrived with digest {digest(archive)}" in str(record.finished["error"])


def function_body(archive: bytes, qualname: str, *, has_input: bool = True) -> dict[str, object]:
    ref: dict[str, object] = {"module": "tasks", "qualname": qualname, "source": "snapshot"}
    return work(function=ref, snapshot=digest(archive), has_input=has_input)


def test_a_function_job_returns_its_result_through_the_payload_codec(worker: WorkerRun) -> None:
    archive = snapshot_of({"tasks.py": TASKS})
    body = function_body(archive, "add")
    code, record, _ = worker.run(body, snapshot=archive, input=payload.encode_call((2,), {"b": 40}))
    assert code == 0
    assert record.result is not None
    assert payload.decode(record.result) == 42


def test_a_map_chunk_keeps_each_items_result_or_error(worker: WorkerRun) -> None:
    archive = snapshot_of({"tasks.py": TASKS})
    body = function_body(archive, "shout")
    chunk = payload.encode_map_chunk(["a", "bad", "c"], first_index=10)
    code, record, _ = worker.run(body, snapshot=archive, input=chunk)
    assert code == 0
    assert record.result is not None
    outcomes = payload.decode_map_results(record.result)
    assert [ok for ok, _ in outcomes] == [True, False, True]
    assert outcomes[0][1] == "A"
    error = outcomes[1][1]
    assert isinstance(error, payload.ItemError)
    assert (error.type, error.message) == ("ValueError", "no bad words")
    assert "raise ValueError" in error.traceback


def test_a_result_that_cannot_travel_fails_the_job_naming_its_type(worker: WorkerRun) -> None:
    archive = snapshot_of({"tasks.py": TASKS})
    code, record, _ = worker.run(
        function_body(archive, "unsendable", has_input=False), snapshot=archive
    )
    assert code == 1
    assert record.result is None
    assert record.finished is not None
    error = str(record.finished["error"])
    assert "object" in error
    assert "JSON" in error


def test_a_function_missing_from_the_snapshot_fails_with_its_name(worker: WorkerRun) -> None:
    archive = snapshot_of({"tasks.py": TASKS})
    code, record, _ = worker.run(function_body(archive, "nope", has_input=False), snapshot=archive)
    assert code == 1
    assert record.finished is not None
    assert "nope" in str(record.finished["error"])


def test_a_worker_whose_heartbeats_go_unacknowledged_kills_its_job_and_stops(
    worker: WorkerRun, marker: str, tmp_path: Path
) -> None:
    script = tmp_path / "tree.py"
    script.write_text(PROCESS_TREE_SCRIPT)
    body = work(argv=[sys.executable, str(script), marker, "0"], heartbeat_s=0.1, lease_s=1.0)
    job_id, proc = worker.start(body)
    assert wait_until(lambda: len(processes_with(marker)) == TREE_PROCESSES)
    worker.host.update(job_id, 1, heartbeat_status=503)
    proc.communicate(timeout=60)
    assert not processes_with(marker)
    assert worker.host.record(job_id, 1).finished is None


def test_sigterm_to_the_worker_kills_its_job_and_reports_why(
    worker: WorkerRun, marker: str, tmp_path: Path
) -> None:
    script = tmp_path / "tree.py"
    script.write_text(PROCESS_TREE_SCRIPT)
    job_id, proc = worker.start(work(argv=[sys.executable, str(script), marker, "0"]))
    assert wait_until(lambda: len(processes_with(marker)) == TREE_PROCESSES)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    record = worker.host.record(job_id, 1)
    assert record.finished is not None
    assert "SIGTERM" in str(record.finished["error"])
    assert not processes_with(marker)


def test_a_finished_job_reports_cpu_time_and_an_energy_method(worker: WorkerRun) -> None:
    code = "x = 0\nfor i in range(3_000_000): x += i"
    _, record, _ = worker.run(work(argv=[sys.executable, "-c", code]))
    assert record.finished is not None
    cpu_s, energy_j = record.finished["cpu_s"], record.finished["energy_j"]
    assert isinstance(cpu_s, float)
    assert cpu_s > 0
    assert record.finished["energy_method"] in ("rapl", "cpu-time-model")
    assert isinstance(energy_j, float)
    assert energy_j > 0


def test_a_log_chunk_resent_after_a_lost_answer_is_stored_once(worker: WorkerRun) -> None:
    code = "import sys, time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.3)\n"
    _, record, _ = worker.run(work(argv=[sys.executable, "-c", code]), drop_after_logs=2)
    assert record.logs() == b"0\n1\n2\n"
    posts = [r for r in record.requests if r == "POST logs"]
    assert len(posts) == len(record.log_chunks) + 2  # two answers lost, two resends


def test_a_server_away_for_less_than_the_lease_does_not_stop_the_job(worker: WorkerRun) -> None:
    code = "import time; time.sleep(1.5); print('finished anyway')"
    body = work(argv=[sys.executable, "-c", code], heartbeat_s=0.1, lease_s=3.0)
    job_id, proc = worker.start(body)
    worker.host.wait_for(job_id, 1, "started")
    worker.host.update(job_id, 1, heartbeat_status=503)
    time.sleep(0.8)  # several heartbeats unanswered, well inside the lease
    worker.host.update(job_id, 1, heartbeat_status=None)
    proc.communicate(timeout=60)
    record = worker.host.record(job_id, 1)
    assert record.finished is not None
    assert (record.finished["exit_code"], record.logs()) == (0, b"finished anyway\n")


DATASET_TASK = b"""\
def rows(table, column):
    return {"rows": table.num_rows, "total": sum(table.column(column).to_pylist())}
"""


def test_a_dataset_argument_is_read_through_the_jobs_own_route(worker: WorkerRun) -> None:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    sink = io.BytesIO()
    pq.write_table(pa.table({"amount": [1, 2, 3, 4]}), sink)
    archive = snapshot_of({"tasks.py": DATASET_TASK})
    ref: dict[str, object] = {"module": "tasks", "qualname": "rows", "source": "snapshot"}
    body = work(function=ref, snapshot=digest(archive), has_input=True, datasets=["sales@3"])
    call = payload.encode_call((payload.DatasetInput("sales@3"), "amount"), {})
    job_id, proc = worker.start(body, snapshot=archive, input=call, datasets=[sink.getvalue()])
    proc.communicate(timeout=120)
    record = worker.host.record(job_id, 1)
    assert record.result is not None, record.finished
    assert payload.decode(record.result) == {"rows": 4, "total": 10}
    assert "GET datasets" in record.requests


def test_a_job_cancelled_before_its_worker_reported_in_never_starts(
    worker: WorkerRun, tmp_path: Path
) -> None:
    witness = tmp_path / "ran"
    body = work(argv=[sys.executable, "-c", f"open({str(witness)!r}, 'w')"])
    code, record, _ = worker.run(body, cancel=True)
    assert code == 143
    assert record.finished is not None
    assert (record.finished["exit_code"], record.finished["error"]) == (None, "cancelled")
    assert not witness.exists()
