"""A ``map`` of 2,000 trivial items on Ray: Corridor's ``client.map`` against the same work done
as plain Ray tasks, in one run on one machine.

    .venv/bin/python benchmarks/compute/bench_map_ray.py [--items 2000] [--repeat 3]

One Ray head of this run's own (``ray start --head --block``, token authentication on, free
ports, 2 CPUs that carry the custom resource ``bench``) and one ``corridor server`` whose only
site is that cluster. Both sides square the integers ``0..N-1`` and gather the results in order:

- plain Ray: ``ray.get([square.remote(i) for i in items])`` from this process, joined to the
  cluster as a client, one task per item (1 CPU, the ``bench`` resource);
- Corridor: ``list(client.map(square, items))`` through the server: the items go out in chunks,
  one job per chunk, each job a Ray task that starts Corridor's worker, which fetches its chunk
  over HTTP, runs the function from the code snapshot and posts the results back. Measured with
  the default chunking (about 32 jobs) and with one chunk per CPU of the site (``chunk_size``).

Each side runs once untimed first (Ray's worker processes started, the snapshot uploaded), then
``--repeat`` times, the sides interleaved; the medians are printed as Markdown rows with the
ratio to plain Ray. The goal: Corridor's map within 1.5x of plain Ray tasks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import psutil
import ray
from ray_head import ray_head

from corridor.client.client import Client
from corridor.compute import ray_auth
from corridor.compute.executors import ray as ray_executor
from corridor.compute.sites import Site
from corridor.config import Settings
from corridor.home import init_home
from corridor.quickstart import ServerProcess, free_port

CPUS = 2
TASKS = """
def square(x):
    return x * x
"""
SITES = """
[sites.ray]
executor = "ray"
address = "{address}"
auth_token_file = "{token}"
resources = {{ bench = 1 }}
cpus = {cpus}
"""


def square_here(x: int) -> int:
    return x * x


@contextmanager
def corridor_server(home: Path, address: str, token_file: Path) -> Iterator[Client]:
    """A server over ``home`` whose one site is the cluster; a client of it."""
    home.mkdir()
    (home / "corridor.toml").write_text(SITES.format(address=address, token=token_file, cpus=CPUS))
    admin = init_home(Settings(home=home)).admin_token
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "CORRIDOR_"))}
    server = ServerProcess(home, free_port(), env={**env, "CORRIDOR_HOME": str(home)})
    try:
        server.wait_ready()
        with Client(server.url, admin, settings=Settings(home=home)) as client:
            client.create_project("bench")
            yield client
    finally:
        server.stop()


def task_module(root: Path) -> ModuleType:
    """The function both sides run, in a package of ``root`` (the jobs' code snapshot)."""
    name = f"benchmap_{uuid.uuid4().hex[:8]}"
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    (root / name / "tasks.py").write_text(TASKS)
    sys.path.insert(0, str(root))
    return __import__(f"{name}.tasks", fromlist=["tasks"])


def timed(run: Callable[[], list[object]], expected: list[int]) -> float:
    started = time.perf_counter()
    results = run()
    elapsed = time.perf_counter() - started
    if results != expected:
        raise RuntimeError("wrong results")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    items = list(range(args.items))
    expected = [x * x for x in items]

    temp_dir = Path(tempfile.mkdtemp(prefix="bm"))  # short: Ray's socket paths live under it
    token_file = temp_dir / "token"
    token_file.write_text(secrets.token_hex(32))
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    try:
        with ray_head(temp_dir, token_file, cpus=CPUS, resources='{"bench": 100}') as head:
            address = head.address
            site = Site(name="ray", executor="ray", address=address, auth_token_file=token_file)
            ray_executor.join(ray_auth.check_cluster(site))
            tasks = task_module(temp_dir / "work")

            # Defined here, so Ray ships it by value (the snapshot's package is not on the
            # Ray workers' path; Corridor's jobs get it from the snapshot).
            square = ray.remote(num_cpus=1, resources={"bench": 1})(square_here)

            def plain() -> list[object]:
                return list(ray.get([square.remote(i) for i in items]))

            with corridor_server(temp_dir / "home", address, token_file) as client:
                per_cpu = math.ceil(len(items) / CPUS)

                def mapped(chunk_size: int | None) -> Callable[[], list[object]]:
                    return lambda: list(
                        client.map(
                            tasks.square,
                            items,
                            project="bench",
                            workdir=temp_dir / "work",
                            chunk_size=chunk_size,
                            progress=False,
                        )
                    )

                sides: dict[str, Callable[[], list[object]]] = {
                    "plain Ray tasks": plain,
                    "Corridor map, default chunks": mapped(None),
                    f"Corridor map, {CPUS} chunks": mapped(per_cpu),
                }
                seconds: dict[str, list[float]] = {name: [] for name in sides}
                for run in sides.values():  # warm-up, not counted
                    timed(run, expected)
                for _ in range(args.repeat):
                    for name, run in sides.items():
                        seconds[name].append(timed(run, expected))
                jobs = client.compute.jobs("bench", limit=1000)
    finally:
        ray_executor.leave()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(temp_dir, ignore_errors=True)

    base = statistics.median(seconds["plain Ray tasks"])
    print(
        f"\n{args.items} items, median of {args.repeat}; {platform.machine()}, "
        f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}, Ray {ray.__version__}, "
        f"load average {os.getloadavg()[0]:.1f}; {len(jobs)} Corridor jobs in all\n"
    )
    # Where a job's time goes, from the server's own timestamps (medians over every job).
    spans: dict[str, list[tuple[dt.datetime | None, dt.datetime | None]]] = {
        "queued to placed": [(j.placed_at, j.created_at) for j in jobs],
        "placed to worker started": [(j.started_at, j.placed_at) for j in jobs],
        "worker started to finished": [(j.finished_at, j.started_at) for j in jobs],
    }
    for what, pairs in spans.items():
        ms = [(end - begin).total_seconds() * 1000 for end, begin in pairs if end and begin]
        print(f"job {what}: median {statistics.median(ms):.0f} ms")
    print()
    print("| side | seconds | items/s | / plain Ray |")
    print("|---|---:|---:|---:|")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {args.items / median:,.0f} | {median / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
