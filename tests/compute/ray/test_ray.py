"""The Ray executor against a real Ray cluster of this machine (see ``conftest.py``).

Everything that needs the cluster is in this one module, so that a session starts one cluster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import re
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import psutil
import pytest

from corridor.client.client import Client
from corridor.compute import ray_auth
from corridor.compute.executors.base import Assignment, Executor
from corridor.compute.sansio.resources import Resources
from corridor.config import Settings
from corridor.errors import ConfigurationError, Unavailable
from tests.compute.executors.contract import (
    PROCESS_TREE_SCRIPT,
    TREE_PROCESSES,
    ExecutorContract,
    processes_with,
    wait_until,
)
from tests.compute.executors.loopback import LoopbackComputeServer, loopback_server, work
from tests.compute.ray.conftest import RayTestCluster, running_cluster
from tests.conftest import LiveServer, clean_env, serving, sqlite_url

if TYPE_CHECKING:
    from corridor.compute.executors.ray import RayExecutor

PRINT_ENV = "import os; print(repr(os.environ.get({name!r})))"


def ray_executor(site_resources: dict[str, float], **options: Any) -> RayExecutor:
    """A Ray executor for a site of ``site_resources`` (Ray is imported here, not when the
    suite is collected: importing it costs every test process a quarter second and 60 MB)."""
    from corridor.compute.executors.ray import RayExecutor

    return RayExecutor(site_resources, **options)


class TestRayExecutor(ExecutorContract):
    """The executor contract, on the nodes of site ``a``."""

    site = "ray-a"

    @pytest.fixture
    def executor(self, ray_joined: RayTestCluster) -> Iterator[Executor]:
        executor = ray_executor({"site_a": 1}, cancel_grace_s=5.0)
        yield executor
        executor.close()

    def env_seen_by_job(self, executor: Executor, host: LoopbackComputeServer, name: str) -> bytes:
        argv = [sys.executable, "-c", PRINT_ENV.format(name=name)]
        job_id, _ = self.launch(executor, host, work(argv=argv))
        return host.wait_for(job_id, 1, "finished").logs()

    def test_the_clusters_token_does_not_reach_a_job(
        self, executor: Executor, host: LoopbackComputeServer
    ) -> None:
        assert self.env_seen_by_job(executor, host, "RAY_AUTH_TOKEN_PATH") == b"None\n"

    def test_gpus_are_hidden_from_a_job_that_holds_none(
        self, executor: Executor, host: LoopbackComputeServer
    ) -> None:
        assert self.env_seen_by_job(executor, host, "CUDA_VISIBLE_DEVICES") == b"''\n"


def test_capacity_counts_only_the_nodes_that_carry_the_sites_resource(
    ray_joined: RayTestCluster,
) -> None:
    assert ray_executor({"site_a": 1}).capacity() == Resources(
        cpus=2.0, memory_bytes=_memory(ray_joined, "site_a"), gpus=0.0
    )
    site_b = ray_executor({"site_b": 1}).capacity()
    assert site_b is not None
    assert (site_b.cpus, site_b.gpus) == (2.0, 2.0)
    whole = ray_executor({}).capacity()
    assert whole is not None
    assert (whole.cpus, whole.gpus) == (4.0, 2.0)
    assert ray_executor({"site_nowhere": 1}).capacity() == Resources(0.0, 0, 0.0)


def _memory(cluster: RayTestCluster, resource: str) -> int:
    """What Ray says the memory of the nodes carrying ``resource`` is."""
    import ray

    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return sum(
        int(node["Resources"].get("memory", 0))
        for node in nodes
        if node["Alive"] and resource in node["Resources"]
    )


# Token authentication: Corridor refuses a cluster that answers without a token.


@pytest.fixture(scope="module")
def open_cluster() -> Iterator[RayTestCluster]:
    """A second, unauthenticated cluster: a head alone (no worker node, no CPU), which is all
    the check talks to; a real one rather than a server imitating one, since the point is what
    a real open Ray cluster answers."""
    with running_cluster({}, authenticated=False) as cluster:
        yield cluster


def test_an_authenticated_cluster_refuses_a_caller_without_the_token(
    ray_cluster: RayTestCluster,
) -> None:
    assert ray_cluster.token_file is not None
    token = ray_cluster.token_file.read_text()
    assert ray_auth.probe(ray_cluster.address, None) == "refused"
    assert ray_auth.probe(ray_cluster.address, "0" * len(token)) == "refused"
    assert ray_auth.probe(ray_cluster.address, token) == "answered"


def test_a_site_whose_cluster_demands_the_token_we_hold_is_accepted(
    ray_cluster: RayTestCluster,
) -> None:
    access = ray_auth.check_cluster(ray_cluster.site("eu", {"site_a": 1}), environ={})
    assert access.address == ray_cluster.address
    assert access.token is not None
    assert access.token.path == ray_cluster.token_file


def test_a_wrong_token_is_refused_naming_where_it_came_from(
    ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token")
    site = ray_cluster.site("eu", {"site_a": 1})
    site = dataclasses.replace(site, auth_token_file=wrong)
    with pytest.raises(
        ConfigurationError, match=f"refuses the token from .*{re.escape(str(wrong))}"
    ):
        ray_auth.check_cluster(site, environ={})


def test_no_token_for_a_cluster_that_demands_one_is_refused(
    ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    site = dataclasses.replace(ray_cluster.site("eu", {"site_a": 1}), auth_token_file=None)
    with pytest.raises(ConfigurationError, match="requires a token and none was found"):
        ray_auth.check_cluster(site, environ={}, user_home=tmp_path)


def test_a_site_on_an_open_cluster_is_refused_and_nothing_joins_it(
    open_cluster: RayTestCluster, tmp_path: Path
) -> None:
    from corridor.compute.executors import ray as executors

    assert ray_auth.probe(open_cluster.address, None) == "answered"
    site = open_cluster.site("open", {})
    with pytest.raises(ConfigurationError) as refused:
        executors.RayExecutor.from_site(site, Settings(home=tmp_path))
    message = str(refused.value)
    assert "site 'open'" in message
    assert f"the Ray cluster at {open_cluster.address} answers callers without a token" in message
    assert "allow_unauthenticated = true in [sites.open]" in message
    assert executors._joined != open_cluster.address


def test_an_open_cluster_is_accepted_only_when_the_site_allows_it(
    open_cluster: RayTestCluster,
) -> None:
    site = open_cluster.site("open", {}, allow_unauthenticated=True)
    access = ray_auth.check_cluster(site, environ={})
    assert access == ray_auth.ClusterAccess(open_cluster.address, None)


def test_an_address_where_no_cluster_listens_is_unavailable_quickly() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        with pytest.raises(
            Unavailable, match=re.escape(f"cannot reach the Ray cluster at {address}")
        ):
            ray_auth.probe(address, None, timeout_s=2.0)


# What only the Ray executor does: lost nodes, gangs, GPUs.


def launch_on(
    executor: Executor,
    host: LoopbackComputeServer,
    body: dict[str, object],
    resources: Resources,
    *,
    workers: int = 1,
    site: str = "ray",
) -> tuple[str, str]:
    job_id = uuid.uuid4().hex
    token = host.add(job_id, 1, body)
    assignment = Assignment(
        job_id=job_id,
        attempt=1,
        site=site,
        server_url=host.url,
        token=token,
        resources=resources,
        workers=workers,
    )
    return job_id, executor.launch(assignment)


@pytest.fixture
def host() -> Iterator[LoopbackComputeServer]:
    with loopback_server() as server:
        yield server


@pytest.fixture
def marker() -> Iterator[str]:
    word = f"corridor-test-{uuid.uuid4().hex}"
    yield word
    for proc in processes_with(word):
        with contextlib.suppress(psutil.Error):
            proc.kill()


def test_a_lost_node_reads_as_lost_and_takes_the_whole_attempt_with_it_unreported(
    ray_joined: RayTestCluster, host: LoopbackComputeServer, marker: str, tmp_path: Path
) -> None:
    ray_joined.add_node("doomed", {"num_cpus": 1, "resources": {"site_doomed": 10}})
    executor = ray_executor({"site_doomed": 1})
    script = tmp_path / "tree.py"
    script.write_text(PROCESS_TREE_SCRIPT)
    body = work(argv=[sys.executable, str(script), marker, "0"], lease_s=30.0)
    job_id, handle = launch_on(executor, host, body, Resources(cpus=1.0))
    host.wait_for(job_id, 1, "started")
    assert wait_until(lambda: len(processes_with(marker)) == TREE_PROCESSES)
    assert executor.poll(handle) == "running"

    ray_joined.remove_node("doomed")

    assert wait_until(lambda: executor.poll(handle) == "lost")
    assert wait_until(lambda: not processes_with(marker)), processes_with(marker)
    assert host.record(job_id, 1).finished is None  # a lost node reports nothing
    # At once, not when Ray's node table catches up: a retry must not be placed there.
    assert executor.capacity() == Resources(0.0, 0, 0.0)


def test_a_gang_starts_all_of_its_ranks_with_one_rendezvous(
    ray_joined: RayTestCluster, host: LoopbackComputeServer, tmp_path: Path
) -> None:
    """Each rank records what it was given, then waits for the other (as ranks meet at
    ``init_process_group``), so that both records exist before either rank ends."""
    executor = ray_executor({"site_b": 1})
    code = RANK_RECORD
    body = work(argv=[sys.executable, "-c", code, str(tmp_path)])
    _, handle = launch_on(executor, host, body, Resources(cpus=1.0), workers=2)
    assert wait_until(lambda: executor.poll(handle) == "exited")
    seen = [json.loads((tmp_path / f"rank-{rank}").read_text()) for rank in (0, 1)]
    assert [(s["CORRIDOR_JOB_RANK"], s["RANK"]) for s in seen] == [("0", "0"), ("1", "1")]
    assert {s["CORRIDOR_JOB_WORLD_SIZE"] for s in seen} == {"2"}
    assert {s["WORLD_SIZE"] for s in seen} == {"2"}
    rendezvous = {(s["MASTER_ADDR"], s["MASTER_PORT"]) for s in seen}
    assert len(rendezvous) == 1
    assert next(iter(rendezvous))[1].isdigit()
    assert _placement_groups("PENDING", "CREATED") == []  # released at the end


def test_a_gang_larger_than_the_free_capacity_waits_and_starts_whole(
    ray_joined: RayTestCluster, host: LoopbackComputeServer, tmp_path: Path
) -> None:
    """Site b has 2 CPUs; a job holds one, so a gang of two 1-CPU workers cannot be reserved:
    its placement group stays pending and neither rank starts until the holder ends."""
    executor = ray_executor({"site_b": 1})
    release = tmp_path / "release"
    hold = [sys.executable, "-c", WAIT_FOR_FILE, str(release)]
    holder_id, holder = launch_on(executor, host, work(argv=hold), Resources(cpus=1.0))
    host.wait_for(holder_id, 1, "started")
    ranks = tmp_path / "ranks"
    ranks.mkdir()
    gang_body = work(argv=[sys.executable, "-c", RANK_RECORD, str(ranks)])
    gang_id, gang = launch_on(executor, host, gang_body, Resources(cpus=1.0), workers=2)
    assert wait_until(lambda: len(_placement_groups("PENDING")) == 1)
    assert executor.poll(gang) == "running"
    assert host.record(gang_id, 1).started is None  # no rank started alone

    release.touch()
    assert wait_until(lambda: executor.poll(holder) == "exited")
    host.wait_for(gang_id, 1, "finished")
    assert wait_until(lambda: executor.poll(gang) == "exited")
    assert sorted(p.name for p in ranks.iterdir()) == ["rank-0", "rank-1"]  # both ranks ran


def test_jobs_asking_for_gpus_see_only_the_devices_ray_gave_them(
    ray_joined: RayTestCluster, host: LoopbackComputeServer, tmp_path: Path
) -> None:
    """Node b declares 2 GPUs (Ray accepts GPUs a machine does not have): two jobs holding one
    each at the same time see different devices; half a GPU still shows one device."""
    executor = ray_executor({"site_b": 1})
    release = tmp_path / "release"
    code = "import os\nprint(os.environ['CUDA_VISIBLE_DEVICES'], flush=True)\n" + WAIT_FOR_FILE
    argv = [sys.executable, "-c", code, str(release)]
    whole = [
        launch_on(executor, host, work(argv=argv), Resources(cpus=0.5, gpus=1.0)) for _ in range(2)
    ]
    devices = {host.wait_for(job_id, 1, "logs:\n").logs().strip() for job_id, _ in whole}
    release.touch()
    assert devices == {b"0", b"1"}
    half_id, _ = launch_on(
        executor,
        host,
        work(argv=[sys.executable, "-c", PRINT_ENV.format(name="CUDA_VISIBLE_DEVICES")]),
        Resources(cpus=0.5, gpus=0.5),
    )
    assert host.wait_for(half_id, 1, "finished").logs() in (b"'0'\n", b"'1'\n")


RANK_RECORD = """
import json, os, sys, time
names = ("CORRIDOR_JOB_RANK", "CORRIDOR_JOB_WORLD_SIZE", "RANK", "WORLD_SIZE", "MASTER_ADDR",
         "MASTER_PORT")
seen = {n: os.environ.get(n) for n in names}
with open(os.path.join(sys.argv[1], "rank-" + seen["RANK"]), "w") as out:
    out.write(json.dumps(seen))
while len([n for n in os.listdir(sys.argv[1]) if n.startswith("rank-")]) < 2:
    time.sleep(0.05)
"""
WAIT_FOR_FILE = (
    "import os, sys, time\nwhile not os.path.exists(sys.argv[1]):\n    time.sleep(0.05)\n"
)


def _placement_groups(*states: str) -> list[str]:
    from ray.util import placement_group_table

    table: dict[str, dict[str, Any]] = placement_group_table()
    return [pg_id for pg_id, row in table.items() if row["state"] in states]


# Through a live server: the scheduler loop places jobs on Ray sites and retries lost ones.

SERVER_SITES = """
[sites.ray-a]
executor = "ray"
address = "{address}"
auth_token_file = "{token}"
resources = {{ site_a = 1 }}
cpus = 2
cost_per_hour = 10.0

[sites.ray-b]
executor = "ray"
address = "{address}"
auth_token_file = "{token}"
resources = {{ site_b = 1 }}
cpus = 2
gpus = 2
cost_per_hour = 10.0

[sites.ray-c]
executor = "ray"
address = "{address}"
auth_token_file = "{token}"
resources = {{ site_c = 1 }}
cost_per_hour = 0.0
"""
# Attempt 1 runs until its node is killed under it; a retry ends at once.
DOOMED_JOB = """
import os, sys, time
attempt = os.environ["CORRIDOR_JOB_ATTEMPT"]
def note(what):
    with open(sys.argv[1], "a") as log:
        log.write(f"{what} {attempt} {os.getpid()}\\n")
note("start")
while attempt == "1":
    time.sleep(0.05)
note("end")
"""


@pytest.fixture(scope="module")
def ray_server(
    ray_cluster: RayTestCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server whose sites are the cluster's nodes: ray-a, ray-b, and ray-c (the cheapest),
    whose node ``c`` exists for the node-loss test to kill. ray-c's capacity is discovered
    from Ray, so it drops to nothing with its node; ray-a and ray-b declare their CPUs (and b its
    two GPUs), because submit checks a job against declared capacity only."""
    home = tmp_path_factory.mktemp("ray-server") / "home"
    home.mkdir()
    (home / "corridor.toml").write_text(
        SERVER_SITES.format(address=ray_cluster.address, token=ray_cluster.token_file)
    )
    if "c" not in ray_cluster.nodes:
        ray_cluster.add_node("c", {"num_cpus": 1, "resources": {"site_c": 10}})
    with clean_env(), serving(home, sqlite_url(home)) as live:
        yield live


@pytest.fixture(scope="module")
def ray_client(ray_server: LiveServer) -> Iterator[Client]:
    with Client(ray_server.url, ray_server.token, settings=Settings(home=ray_server.home)) as c:
        c.create_project("onray")
        # ray-c declares no capacity: the scheduler discovers it once it has joined.
        assert wait_until(
            lambda: all(s.capacity.cpus > 0 for s in c.compute.sites()), timeout_s=60
        ), c.compute.sites()
        yield c


def test_a_job_whose_node_is_killed_is_retried_on_another_site(
    ray_cluster: RayTestCluster, ray_client: Client, tmp_path: Path
) -> None:
    script = tmp_path / "job.py"
    script.write_text(DOOMED_JOB)
    log = tmp_path / "runs.log"
    future = ray_client.compute.submit_command(
        [sys.executable, str(script), str(log)],
        snapshot=False,
        project="onray",
        cpus=1,
        objective="cost",
    )
    assert wait_until(lambda: log.exists() and "start 1" in log.read_text(), timeout_s=60)
    assert ray_client.compute.job(future.id).site == "ray-c"
    first_pid = int(log.read_text().split()[2])

    ray_cluster.remove_node("c")

    job = ray_client.compute.wait(future.id, timeout_s=120)
    assert job.state == "succeeded", job
    assert job.attempts == 2
    assert job.site in ("ray-a", "ray-b")
    runs = [line.split()[:2] for line in log.read_text().splitlines()]
    assert runs == [["start", "1"], ["start", "2"], ["end", "2"]]
    assert not psutil.pid_exists(first_pid) or psutil.Process(first_pid).status() == "zombie"


def test_a_job_asking_for_a_gpu_is_placed_where_ray_declares_them_and_sees_one(
    ray_client: Client,
) -> None:
    future = ray_client.compute.submit_command(
        [sys.executable, "-c", PRINT_ENV.format(name="CUDA_VISIBLE_DEVICES")],
        snapshot=False,
        project="onray",
        cpus=0.5,
        gpus=1,
    )
    job = ray_client.compute.wait(future.id, timeout_s=120)
    assert job.state == "succeeded", job
    assert job.site == "ray-b"  # the only site whose nodes have GPUs
    assert ray_client.compute.logs(future.id).data in (b"'0'\n", b"'1'\n")


MAP_TASKS = '''
import os


def square_where(x):
    """The square of ``x``, and which process (so which job) computed it."""
    return {"x": x, "square": x * x, "pid": os.getpid()}
'''


@pytest.fixture(scope="module")
def map_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ModuleType]]:
    """A package in a fresh work folder, importable here and shipped in the jobs' snapshot."""
    root = tmp_path_factory.mktemp("ray-map")
    name = f"raymap_{uuid.uuid4().hex[:8]}"
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    (root / name / "tasks.py").write_text(MAP_TASKS)
    sys.path.insert(0, str(root))
    try:
        yield root, importlib.import_module(f"{name}.tasks")
    finally:
        sys.path.remove(str(root))


def test_a_map_of_200_items_over_the_ray_sites_gathers_every_result_in_order(
    ray_client: Client, map_module: tuple[Path, ModuleType]
) -> None:
    root, tasks = map_module
    ray_client.create_project("maps")
    results = cast(
        list[dict[str, int]],
        list(ray_client.map(tasks.square_where, range(200), project="maps", workdir=root, cpus=1)),
    )
    assert [r["x"] for r in results] == list(range(200))
    assert [r["square"] for r in results] == [x * x for x in range(200)]
    jobs = ray_client.compute.jobs("maps", limit=1000)
    assert {job.state for job in jobs} == {"succeeded"}
    assert len(jobs) > 1  # the items went out in several jobs
    assert {job.site for job in jobs} <= {"ray-a", "ray-b", "ray-c"}
    assert len({job.site for job in jobs}) > 1  # over more than one site
    assert len({r["pid"] for r in results}) == len(jobs)


# A pipeline whose step jobs run on a Ray site.

PIPELINE = """
import os
from corridor.pipelines import pipeline, step

@step(in_process=True)
def numbers(n: int) -> list[int]:
    return list(range(n))

@step
def square(x: int) -> dict[str, int]:
    return {"x": x, "square": x * x, "pid": os.getpid()}

@step(in_process=True)
def gather(rows: list[dict[str, int]]) -> list[int]:
    return [r["square"] for r in rows]

@pipeline
def on_ray(n: int = 20) -> list[int]:
    return gather(square.map(numbers(n)))
"""


@pytest.fixture(scope="module")
def flow_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("ray-pipeline")
    name = f"raypipe_{uuid.uuid4().hex[:8]}"
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    (root / name / "flow.py").write_text(PIPELINE)
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(f"{name}.flow")
    finally:
        sys.path.remove(str(root))


def test_a_pipeline_runs_its_map_as_step_jobs_on_a_ray_site_and_fans_in_in_order(
    ray_client: Client, flow_module: ModuleType
) -> None:
    ray_client.create_project("piperay")
    result = ray_client.pipelines.run(
        flow_module.on_ray, {"n": 20}, project="piperay", site="ray-a"
    )
    assert result.run.state == "succeeded", result.run.error
    assert result.value == [x * x for x in range(20)]
    steps = ray_client.pipelines.get(result.run.id).steps
    items = [s for s in steps if s.parent_key == "square"]
    assert len(items) == 20
    assert {s.state for s in items} == {"succeeded"}
    jobs = {s.job_id for s in items}
    assert None not in jobs
    assert {ray_client.compute.job(j).site for j in jobs if j} == {"ray-a"}


# PyTorch training on a Ray site: the trainer's job as a 2-rank gang of Ray tasks.

TRAIN_PROJECT = Path(__file__).parents[2] / "training" / "train_project" / "trainjobs"


@pytest.fixture(scope="module")
def train_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ModuleType]]:
    """The trainer tests' factories under a fresh package name, shipped in the jobs' snapshot."""
    from tests.training.project_copy import copied_package

    with copied_package(TRAIN_PROJECT, tmp_path_factory.mktemp("ray-train"), "models") as found:
        yield found


def test_ddp_over_two_ray_workers_gives_the_weights_of_one_process(
    ray_client: Client, train_module: tuple[Path, ModuleType]
) -> None:
    """The same job as tests/training/test_trainer.py's DDP test, on site ray-a: 2 ranks, each
    a Ray task, rendezvous over gloo through the gang's MASTER_ADDR/PORT; after 16 Adam steps
    the weights equal one process's within that test's tolerance (1e-5: the all-reduce sums in
    another order)."""
    import torch

    from corridor.training.torch import Trainer, TrainResult

    root, models = train_module

    def fit(workers: int) -> TrainResult:
        return Trainer(
            models.make_mlp,
            models.make_data,
            epochs=2,
            batch_size=8,
            optimizer=("adam", {"lr": 0.01}),
            checkpoint_every=3,
            log_every=2,
            cpus=0.5,
            workers=workers,
            site="ray-a",
            project="onray",
            workdir=root,
            progress=False,
        ).fit(ray_client)

    one, two = fit(1), fit(2)
    job = ray_client.compute.job(two.job_id)
    assert (job.state, job.site, job.workers) == ("succeeded", "ray-a", 2)
    assert two.details["world_size"] == 2
    assert one.weights.keys() == two.weights.keys()
    for key in one.weights:
        torch.testing.assert_close(two.weights[key], one.weights[key], atol=1e-5, rtol=0)
    assert two.metrics["epoch_loss"] == pytest.approx(one.metrics["epoch_loss"], abs=1e-5)


def test_a_serving_replica_runs_in_an_actor_on_a_ray_site(
    ray_joined: RayTestCluster, tmp_path: Path
) -> None:
    # Here, on this module's cluster: a cluster of its own would cost the suite about 20 s.
    from tests.serving.replicas.ray_checks import check_ray_replica

    check_ray_replica(ray_joined, tmp_path)
