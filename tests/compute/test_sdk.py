"""The compute SDK end to end: submit and map against a live server with real worker processes.

The functions come from a test-data package (``sdk_project/sdkjobs``) copied into a temporary
work folder, so every job ships a real snapshot and imports its function from it.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa
import pytest

from corridor.client.client import Client
from corridor.client.compute import ComputeClient
from corridor.client.compute_map import TARGET_JOBS, MapRun
from corridor.client.job_future import JobFailed
from corridor.compute.sansio.payload import DatasetInput
from corridor.compute.snapshot import build_snapshot
from corridor.config import Settings
from corridor.errors import InvalidInput, NotFound
from corridor.home import init_home
from tests.conftest import LiveServer, module_server

PROJECT_SOURCE = Path(__file__).parent / "sdk_project"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory, "compute-sdk") as live:
        yield live


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ModuleType]]:
    """A copy of the test-data project under a fresh package name, importable here."""
    root = tmp_path_factory.mktemp("sdk-work")
    name = f"sdkjobs_{uuid.uuid4().hex[:8]}"
    shutil.copytree(PROJECT_SOURCE / "sdkjobs", root / name)
    sys.path.insert(0, str(root))
    try:
        module = __import__(f"{name}.tasks", fromlist=["tasks"])
        yield root, module
    finally:
        sys.path.remove(str(root))


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, token=server.token, settings=Settings(home=server.home)) as c:
        c.create_project("sdk")
        yield c


Work = tuple[Path, ModuleType]


def test_a_function_from_the_snapshot_runs_and_returns_its_value(
    client: Client, workdir: Work
) -> None:
    root, tasks = workdir
    future = client.submit(
        tasks.add, 2, 3, scale=10, project="sdk", workdir=root, cpus=0.5, memory="256M"
    )
    assert future.result(timeout=120) == 50
    assert future.state == "succeeded"
    assert future.done()
    job = future.job
    assert job.function is not None
    assert (job.function.module, job.function.qualname) == (tasks.__name__, "add")
    assert job.snapshot == build_snapshot(root).digest
    assert (job.cpus, job.memory_bytes) == (0.5, 256 << 20)
    # The same tree is the same snapshot: a fresh client finds it on the server.
    assert not ComputeClient(client).upload_snapshot("sdk", build_snapshot(root))


def test_numpy_and_arrow_values_travel_both_ways(client: Client, workdir: Work) -> None:
    root, tasks = workdir
    stats = client.submit(tasks.stats, np.arange(5, dtype=np.int32), project="sdk", workdir=root)
    table = client.submit(tasks.table_of, 3, "x", project="sdk", workdir=root)
    rows = client.submit(tasks.rows_of, pa.table({"a": [1, 2, 3, 4]}), project="sdk", workdir=root)
    got = stats.result(timeout=120)
    assert isinstance(got, dict)
    assert got["sum"] == 10.0
    assert got["shape"] == (5,)
    assert got["doubled"].dtype == np.int32
    np.testing.assert_array_equal(got["doubled"], np.arange(5) * 2)
    assert table.result(timeout=120).equals(pa.table({"i": [0, 1, 2], "label": ["x"] * 3}))
    assert rows.result(timeout=120) == 4


def test_a_failing_function_raises_job_failed_with_the_remote_traceback(
    client: Client, workdir: Work
) -> None:
    root, tasks = workdir
    future = client.compute.submit(
        tasks.fail_loudly, "broken on purpose", project="sdk", workdir=root
    )
    with pytest.raises(JobFailed) as caught:
        future.result(timeout=120)
    error = caught.value
    assert error.job_id == future.id
    assert error.index is None
    assert "RuntimeError: broken on purpose" in error.message
    assert "fail_loudly" in error.remote_traceback
    assert future.exception() is not None
    assert future.state == "failed"


def test_an_unsendable_result_fails_the_job_naming_it(client: Client, workdir: Work) -> None:
    root, tasks = workdir
    future = client.submit(tasks.unsendable, project="sdk", workdir=root)
    with pytest.raises(JobFailed, match="result: a value of type object cannot be sent safely"):
        future.result(timeout=120)


def test_a_non_serialisable_argument_is_refused_at_submit_and_nothing_is_queued(
    client: Client, workdir: Work
) -> None:
    root, tasks = workdir
    before = len(client.compute.jobs("sdk", limit=1000))
    with pytest.raises(
        InvalidInput, match=r"args\[1\]\['model'\]: a value of type object cannot be sent"
    ):
        client.submit(tasks.add, 1, {"model": object()}, project="sdk", workdir=root)
    with pytest.raises(InvalidInput, match=r"items\[3\]: a value of type set cannot be sent"):
        client.map(tasks.square_or_fail, [1, 2, 3, {4}], project="sdk", workdir=root)
    with pytest.raises(InvalidInput, match="a lambda cannot be sent"):
        client.submit(lambda: 1, project="sdk", workdir=root)
    assert len(client.compute.jobs("sdk", limit=1000)) == before


def test_a_request_no_site_can_meet_is_refused_by_the_server_and_nothing_is_queued(
    client: Client, workdir: Work
) -> None:
    root, tasks = workdir
    before = len(client.compute.jobs("sdk", limit=1000))
    with pytest.raises(InvalidInput, match="GPU"):
        client.submit(tasks.add, 1, 2, project="sdk", workdir=root, gpus=64)
    with pytest.raises(InvalidInput, match="unknown site"):
        client.map(tasks.square_or_fail, range(5), project="sdk", workdir=root, site="mars")
    assert len(client.compute.jobs("sdk", limit=1000)) == before


def test_map_yields_results_in_order_and_names_the_failing_item(
    client: Client, workdir: Work
) -> None:
    root, tasks = workdir
    results: list[object] = []
    mapped = client.map(
        tasks.square_or_fail, range(50), project="sdk", workdir=root, cpus=0.25, progress=False
    )
    with pytest.raises(JobFailed) as caught:
        results.extend(mapped)
    assert results == [i * i for i in range(13)]
    error = caught.value
    assert error.index == 13
    assert f"item 13 of the map (job {error.job_id})" in error.message
    assert "ValueError: unlucky 13" in error.message
    assert "square_or_fail" in error.remote_traceback
    assert client.compute.job(error.job_id).state == "succeeded"  # the chunk ran; one item failed


def test_map_as_completed_gathers_every_result_and_reports_progress(
    client: Client, workdir: Work
) -> None:
    root, tasks = workdir
    seen: list[tuple[int, int]] = []
    items = [i for i in range(50) if i != 13]
    got = list(
        client.map(
            tasks.square_or_fail,
            items,
            project="sdk",
            workdir=root,
            ordered=False,
            chunk_size=7,
            cpus=0.25,
            progress=lambda done, total: seen.append((done, total)),
        )
    )
    assert sorted(got) == sorted(i * i for i in items)  # type: ignore[type-var]
    assert seen[-1] == (49, 49)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    failing = client.map(
        tasks.square_or_fail, range(20), project="sdk", workdir=root, ordered=False, chunk_size=5
    )
    with pytest.raises(JobFailed) as caught:
        list(failing)
    assert caught.value.index == 13


def test_map_with_max_parallel_submits_in_waves_and_returns_everything(
    client: Client, workdir: Work
) -> None:
    root, tasks = workdir
    pairs = list(
        client.map(
            tasks.square_or_fail,
            range(12),
            project="sdk",
            workdir=root,
            chunk_size=2,
            max_parallel=2,
            progress=False,
        )
    )
    assert pairs == [i * i for i in range(12)]


def test_a_map_without_chunk_size_makes_one_job_per_free_slot_of_the_sites(
    client: Client, workdir: Work
) -> None:
    root, tasks = workdir
    free = sum(int(s.capacity.cpus - s.used.cpus) for s in client.compute.sites() if s.up)
    before = len(client.compute.jobs("sdk", limit=1000))
    items = range(14, 74)  # square_or_fail fails on 13 only
    squares = list(client.map(tasks.square_or_fail, items, project="sdk", workdir=root))
    assert squares == [i * i for i in items]
    assert len(client.compute.jobs("sdk", limit=1000)) - before == min(60, max(free, 1))


def test_a_large_map_runs_in_one_wave_of_chunks() -> None:
    run = MapRun.plan(list(range(2000)), chunk_size=None, max_parallel=None)
    assert len(run.chunks) == TARGET_JOBS
    assert sum(c.count for c in run.chunks) == 2000
    assert [c.first for c in run.chunks[:3]] == [0, 63, 126]
    assert len(MapRun.plan(list(range(5)), chunk_size=None, max_parallel=None).chunks) == 5
    # One wave where the room is known: the sites' free slots, or max_parallel.
    assert len(MapRun.plan(list(range(2000)), chunk_size=None, max_parallel=4).chunks) == 4
    sized = MapRun.plan(list(range(2000)), chunk_size=None, max_parallel=None, target_jobs=2)
    assert [c.count for c in sized.chunks] == [1000, 1000]
    with pytest.raises(InvalidInput, match="chunk_size"):
        MapRun.plan([1], chunk_size=0, max_parallel=None)
    with pytest.raises(InvalidInput, match="max_parallel"):
        MapRun.plan([1], chunk_size=None, max_parallel=0)


def test_an_in_process_client_runs_jobs_on_a_loopback_server_that_needs_a_token(
    home: Path, workdir: Work
) -> None:
    import httpx

    root, tasks = workdir
    init_home(Settings(home=home))
    client = Client(settings=Settings(home=home))
    try:
        assert client.in_process
        future = client.submit(tasks.add, 20, 22, workdir=root)
        assert future.result(timeout=120) == 42
        assert future.job.project == "default"
        loopback = client.compute._loopback
        assert loopback is not None
        assert loopback.url.startswith("http://127.0.0.1:")
        refused = httpx.get(f"{loopback.url}/api/v1/projects", timeout=10)
        assert refused.status_code == 401
        issued = [t for t in client.list_tokens(all_users=True) if t.name == "loopback"]
        assert len(issued) == 1
        assert issued[0].revoked_at is None
    finally:
        client.close()
    with Client(settings=Settings(home=home)) as again:
        tokens = [t for t in again.list_tokens(all_users=True) if t.name == "loopback"]
        assert len(tokens) == 1
        assert tokens[0].revoked_at is not None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{loopback.url}/healthz", timeout=5)


def test_a_dataset_input_is_declared_by_the_submit_and_read_by_the_job(
    client: Client, workdir: Work
) -> None:
    root, tasks = workdir
    client.data.ingest(b"id,amount\n1,2.5\n2,3.0\n3,1.0\n", "orders", project="sdk")
    future = client.submit(
        tasks.rows_of, DatasetInput("orders@latest"), project="sdk", workdir=root
    )
    assert future.job.datasets == ["orders@latest"]
    assert future.result(timeout=120) == 3
    before = len(client.compute.jobs("sdk", limit=1000))
    with pytest.raises(NotFound, match="dataset sdk/no_such_dataset not found"):
        client.submit(tasks.rows_of, DatasetInput("no_such_dataset@1"), project="sdk", workdir=root)
    assert len(client.compute.jobs("sdk", limit=1000)) == before


def test_logs_and_follow_return_the_output_as_written(client: Client, workdir: Work) -> None:
    code = "import sys; print('line 1'); sys.stderr.write('line 2 no newline')"
    future = client.compute.submit_command(
        [sys.executable, "-c", code], project="sdk", snapshot=False
    )
    followed = b"".join(client.compute.follow_logs(future.id))
    assert followed == b"line 1\nline 2 no newline"
    assert future.logs() == followed
    assert future.wait().exit_code == 0
    assert future.result() is None
    assert client.compute.explain(future.id).chosen == future.job.site
    assert future.id in [j.id for j in client.compute.jobs("sdk", state="succeeded")]


def test_stopping_a_map_early_cancels_the_jobs_still_running(client: Client, workdir: Work) -> None:
    root, tasks = workdir
    mapped = client.map(
        tasks.nap_or_fail,
        ["stop here", 600, 600],
        project="sdk",
        workdir=root,
        chunk_size=1,
        cpus=0.25,
        progress=False,
    )
    with pytest.raises(JobFailed, match="item 0 of the map") as caught:
        next(iter(mapped))
    others = [
        j
        for j in client.compute.jobs("sdk", limit=1000)
        if j.name in ("nap_or_fail[1]", "nap_or_fail[2]")
    ]
    assert len(others) == 2
    ended = [client.compute.wait(j.id, timeout_s=60) for j in others]
    assert [j.state for j in ended] == ["cancelled", "cancelled"]
    assert caught.value.job_id not in [j.id for j in others]
