"""Per-step overhead of Corridor's pipelines against Prefect 3 and plain Ray, in one run on one
machine.

    .venv/bin/python benchmarks/pipelines/bench_pipelines.py [--steps 1000] [--repeat 3]
        [--only inprocess,processes,ray] [--processes-repeat R] [--warm-up 50]
        [--skip-prefect] [--standby-workers 2]
        [--preload corridor.pipelines.step_job] [--profile chain|fan|jobs|map]

Three parts, each over ``--steps`` trivial steps (``x + 1``; ``x * x`` on Ray):

1. ``inprocess``: one ``@pipeline`` of steps marked ``@step(in_process=True)``, which run in the
   driver's own process, as a chain (each step takes the previous one's output) and as
   independent steps (the pipeline returns all their outputs); against a Prefect ``@flow``
   calling ``@task``s: the chain as direct calls, the independent tasks with ``.submit`` on the
   default thread pool. Goal: at most 1 ms a step.
2. ``processes``: independent default ``@step``s, each a compute job on the local site, i.e. a
   process of its own started by a (standby) worker; against Prefect's ``ProcessPoolTaskRunner``
   with as many processes as the site has CPUs. Goal: at most 30 ms a step.
3. ``ray``: one ``square.map(items)`` step on a Ray site (chunk jobs, one per free CPU) against
   ``ray.get([square.remote(i) for i in items])``, one plain Ray task per item, on one Ray head of
   the run's own with token authentication. Goal: within 1.5x.

Corridor runs through the SDK, ``client.pipelines.run(pipeline, params)``, against a ``corridor
server`` of the run's own; its runs record every step run on the server. Each run gets a fresh
``salt`` parameter so that no step is a cache hit. Prefect 3 runs against a ``prefect server`` of
the run's own (not the ephemeral one). Each side runs once untimed first (``--warm-up`` steps),
then ``--repeat`` times, the sides of a part interleaved; a run of one step per side gives the
fixed cost of a run, so the per-step figure is also given as the marginal ``(t(N) - t(1)) /
(N - 1)``. After every timed run the benchmark waits, untimed, until the services' processes are
idle (Prefect's server ingests a flow's task-run events after the flow has returned), so that
one side's leftover work never lands on the next side's clock; that wait is reported as "busy
after return". Prints Markdown rows. The local site keeps ``--standby-workers`` workers ready,
their job interpreters started with ``--preload`` imported (default: the step jobs' own module,
``corridor.pipelines.step_job``; ``--preload none`` for none).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib
import os
import platform
import pstats
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "compute"))
sys.path.insert(0, str(HERE))

from prefect_side import PREFECT_VERSION, PrefectPeer, prefect_peer, prefect_python  # noqa: E402

import corridor  # noqa: E402
from corridor.client.client import Client  # noqa: E402
from corridor.config import Settings  # noqa: E402
from corridor.home import init_home  # noqa: E402
from corridor.quickstart import ServerProcess, free_port  # noqa: E402

PARTS = ("inprocess", "processes", "ray")
FLOWS = """
from corridor.pipelines import pipeline, step


@step(in_process=True)
def inc_here(x: int) -> int:
    return x + 1


@step
def inc_job(x: int) -> int:
    return x + 1


@step
def square(x: int) -> int:
    return x * x


@pipeline
def chain_here(n: int = 1000, salt: int = 0) -> int:
    x = inc_here(salt)
    for _ in range(n - 1):
        x = inc_here(x)
    return x


@pipeline
def fan_here(n: int = 1000, salt: int = 0) -> list[int]:
    return [inc_here(salt + i) for i in range(n)]


@pipeline
def fan_jobs(n: int = 1000, salt: int = 0) -> list[int]:
    return [inc_job(salt + i) for i in range(n)]


@pipeline
def map_ray(n: int = 1000, salt: int = 0) -> list[int]:
    return square.map(list(range(salt, salt + n)))
"""
LOCAL_SITE = """
[sites.local]
standby_workers = {standby}
preload = {preload}
"""
RAY_SITE = """
[sites.ray]
executor = "ray"
address = "{address}"
auth_token_file = "{token}"
resources = {{ bench = 1 }}
cpus = {cpus}
"""


def square_here(x: int) -> int:
    return x * x


def flows_module(root: Path) -> ModuleType:
    """The pipelines, in a package of ``root`` (the code snapshot of the step jobs)."""
    name = f"benchpipes_{uuid.uuid4().hex[:8]}"
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    (root / name / "flows.py").write_text(FLOWS)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    return importlib.import_module(f"{name}.flows")


@contextmanager
def corridor_server(home: Path, sites: str) -> Iterator[tuple[Client, int]]:
    """A server over ``home`` with these sites: a client of it with the project ``bench``, and
    the server's process id."""
    home.mkdir()
    (home / "corridor.toml").write_text(sites)
    admin = init_home(Settings(home=home)).admin_token
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "CORRIDOR_"))}
    server = ServerProcess(home, free_port(), env={**env, "CORRIDOR_HOME": str(home)})
    try:
        server.wait_ready()
        with Client(server.url, admin, settings=Settings(home=home)) as client:
            client.create_project("bench")
            yield client, server.process.pid
    finally:
        server.stop()


class Corridor:
    """Runs one of the benchmark's pipelines through the SDK, each run with a fresh salt."""

    def __init__(self, client: Client, flows: ModuleType, workdir: Path) -> None:
        self.client = client
        self.flows = flows
        self.workdir = workdir
        self._salt = 0

    def run(self, name: str, n: int, *, site: str | None = None) -> float:
        self._salt += 1_000_000
        salt = self._salt
        started = time.perf_counter()
        result = self.client.pipelines.run(
            getattr(self.flows, name),
            {"n": n, "salt": salt},
            project="bench",
            site=site,
            workdir=self.workdir,
        )
        elapsed = time.perf_counter() - started
        if result.value != expected(name, n, salt):
            raise RuntimeError(f"{name} returned a wrong value (run {result.run.id})")
        return elapsed


def expected(name: str, n: int, salt: int) -> object:
    if name == "chain_here":
        return salt + n
    if name == "map_ray":
        return [x * x for x in range(salt, salt + n)]
    return [salt + i + 1 for i in range(n)]


Side = Callable[[int], float]


def tree_cpu_s(trees: Sequence[int], alone: Sequence[int] = ()) -> float:
    """CPU seconds used so far by the processes ``trees`` with their descendants, live or ended
    (an ended child that was waited for counts in its parent's children times), and by the
    processes ``alone`` without theirs (this process, whose children are the services)."""
    total = 0.0
    seen: set[int] = set()
    for pid in alone:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    for pid in trees:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                if proc.pid in seen:
                    continue
                seen.add(proc.pid)
                with contextlib.suppress(psutil.Error):
                    t = proc.cpu_times()
                    total += t.user + t.system + t.children_user + t.children_system
    return total


class Quiet:
    """Waits until the processes of the benchmark's services (and their children) stop working.

    A side's call may return before its service has finished with it (Prefect's server ingests
    task runs' events after the flow has returned); that work would fall on the next side's
    timing. So after each timed run the benchmark waits, untimed, until these process trees
    use under ``QUIET_CORES`` of CPU over a ``WINDOW_S`` window, and reports the wait.
    """

    QUIET_CORES = 0.2
    WINDOW_S = 0.5
    MAX_S = 30.0

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids

    def wait(self) -> float:
        """Seconds until quiet (the last window included)."""
        started = time.perf_counter()
        while time.perf_counter() - started < self.MAX_S:
            before = tree_cpu_s(self.pids)
            time.sleep(self.WINDOW_S)
            if tree_cpu_s(self.pids) - before < self.QUIET_CORES * self.WINDOW_S:
                break
        return time.perf_counter() - started - self.WINDOW_S


# seconds for N; median seconds for 1; median seconds busy after; median CPU seconds for N
Measured = tuple[list[float], float, float, float | None]


def measure(
    sides: dict[str, Side],
    n: int,
    repeat: int,
    warm_up: int,
    quiet: Quiet,
    cpu_pids: Callable[[str], tuple[list[int], list[int]] | None] = lambda name: None,
) -> dict[str, Measured]:
    """Each side's seconds for ``n`` steps (``repeat`` runs), its median for one step, how long
    its services stayed busy after a run of ``n`` returned and the CPU time of its processes
    (``cpu_pids``: its servers' process trees, and the driver alone) over a run of ``n`` and its
    aftermath; the sides interleaved after one untimed run of ``warm_up`` steps each, the
    services quiet before every run."""
    for run in sides.values():
        run(warm_up)
        quiet.wait()
    full: dict[str, list[float]] = {name: [] for name in sides}
    one: dict[str, list[float]] = {name: [] for name in sides}
    busy: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeat):
        for name, run in sides.items():
            pids = cpu_pids(name)
            cpu_before = tree_cpu_s(*pids) if pids else 0.0
            full[name].append(run(n))
            busy[name].append(quiet.wait())
            if pids:
                cpu[name].append(tree_cpu_s(*pids) - cpu_before)
            one[name].append(run(1))
            quiet.wait()
    return {
        name: (
            full[name],
            statistics.median(one[name]),
            statistics.median(busy[name]),
            statistics.median(cpu[name]) if cpu[name] else None,
        )
        for name in sides
    }


def table(title: str, results: dict[str, Measured], n: int, base: str) -> list[str]:
    base_s = statistics.median(results[base][0])
    lines = [
        f"\n{title}\n",
        f"| side | seconds for {n:,} | ms a step | marginal ms a step | run of 1 step, s "
        f"| busy after return, s | CPU ms a step | / {base} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (seconds, one_s, busy_s, cpu_s) in results.items():
        cpu_ms = f"{cpu_s / n * 1000:.2f}" if cpu_s is not None else "-"
        median = statistics.median(seconds)
        marginal = (median - one_s) / (n - 1) * 1000 if n > 1 else float("nan")
        lines.append(
            f"| {name} | {median:.2f} | {median / n * 1000:.2f} | {marginal:.2f} | "
            f"{one_s:.3f} | {busy_s:.1f} | {cpu_ms} | {median / base_s:.2f}x |"
        )
    lines.append(
        "\nall runs, seconds: "
        + "; ".join(f"{k}: {', '.join(f'{s:.2f}' for s in v[0])}" for k, v in results.items())
    )
    return lines


def job_spans(client: Client, limit: int) -> list[str]:
    """Where the newest jobs' time went, from the server's own timestamps (medians)."""
    jobs = client.compute.jobs("bench", limit=limit)
    spans = {
        "submitted to placed": [(j.placed_at, j.created_at) for j in jobs],
        "placed to worker started": [(j.started_at, j.placed_at) for j in jobs],
        "worker started to finished": [(j.finished_at, j.started_at) for j in jobs],
    }
    lines = [f"\nper job, medians over the newest {len(jobs)} jobs (server clock):"]
    for what, pairs in spans.items():
        ms = [(end - begin).total_seconds() * 1000 for end, begin in pairs if end and begin]
        if ms:
            lines.append(f"- {what}: {statistics.median(ms):.0f} ms")
    return lines


def profile(
    corridor_side: Corridor, name: str, n: int, site: str | None, server_pid: int, temp: Path
) -> None:
    """One run under cProfile in this process (the driver), and the server sampled by py-spy
    meanwhile where it is installed: the functions with the most time on each side."""
    py_spy = Path(sys.executable).parent / "py-spy"
    samples = temp / "server.txt"
    recorder = None
    if py_spy.exists():
        command = [
            str(py_spy),
            "record",
            "--pid",
            str(server_pid),
            "--format",
            "raw",
            "--subprocesses",
        ]
        recorder = subprocess.Popen(
            [*command, "--rate", "200", "--output", str(samples)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # attached
    profiler = cProfile.Profile()
    profiler.enable()
    started = time.perf_counter()
    corridor_side.run(name, n, site=site)
    elapsed = time.perf_counter() - started
    profiler.disable()
    print(f"{name}, {n} steps: {elapsed:.2f} s\n\nthe driver (cProfile):")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(40)
    if recorder is not None:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(60)
        print("the server (py-spy samples over the run, every thread):")
        print("\n".join(summarise_samples(samples.read_text())))


def summarise_samples(raw: str, top: int = 40) -> list[str]:
    """py-spy's collapsed stacks (threads it saw active) as samples per kind of process (the
    server, its workers, the jobs' interpreters) and the functions most often on the stack
    (inclusive) and on top of it (own)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    processes: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        # py-spy nests a child's stack under its parent's "process PID:CMDLINE" frame.
        process = [f for f in frames if f.startswith("process ")][-1:] or ["process ?:?"]
        command = process[0].partition(":")[2].strip('"').split()
        processes[" ".join(Path(command[0]).name.split()[:1] + command[1:4])] += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [f"{total} samples; by process:"]
    lines += [f"  {c:6d} {100 * c / total:5.1f}%  {f}" for f, c in processes.most_common(8)]
    lines.append("own:")
    lines += [f"  {c:6d} {100 * c / total:5.1f}%  {f}" for f, c in own.most_common(top // 2)]
    lines.append("inclusive:")
    lines += [f"  {c:6d} {100 * c / total:5.1f}%  {f}" for f, c in inclusive.most_common(top)]
    return lines


def machine(load_before: tuple[float, float, float]) -> str:
    import ray

    load = os.getloadavg()
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"Corridor {corridor.__version__}, Prefect {PREFECT_VERSION}, Ray {ray.__version__}; "
        f"load average {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f} "
        f"(1/5/15 min) at the start, {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} at the end"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts")
    parser.add_argument(
        "--processes-repeat",
        type=int,
        default=None,
        help="repeats of that part (its runs are long)",
    )
    parser.add_argument("--warm-up", type=int, default=50, help="steps of each untimed first run")
    parser.add_argument("--skip-prefect", action="store_true")
    parser.add_argument("--no-install", action="store_true", help="never install Prefect")
    parser.add_argument("--standby-workers", type=int, default=2)
    parser.add_argument("--preload", action="append", default=None)
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--profile", choices=("chain", "fan", "jobs", "map"), default=None)
    args = parser.parse_args()
    parts = [p for p in args.only.split(",") if p]
    if unknown := set(parts) - set(PARTS):
        parser.error(f"unknown parts: {sorted(unknown)}; choose from {PARTS}")
    if args.steps < 2 or args.repeat < 1:
        parser.error("--steps must be at least 2 and --repeat at least 1")
    preload = [m for m in args.preload or ["corridor.pipelines.step_job"] if m != "none"]
    warm_up = min(args.warm_up, args.steps)
    load_before = os.getloadavg()
    cpus = os.cpu_count() or 1

    temp_dir = Path(tempfile.mkdtemp(prefix="bp"))  # short: Ray's socket paths live under it
    out: list[str] = []
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    try:
        with ExitStack() as stack:
            sites = LOCAL_SITE.format(
                standby=args.standby_workers, preload="[" + ", ".join(map(repr, preload)) + "]"
            ).replace("'", '"')
            plain_ray: Side | None = None
            if "ray" in parts or args.profile == "map":
                address, plain_ray = stack.enter_context(_ray_world(temp_dir, args.ray_cpus))
                sites += RAY_SITE.format(
                    address=address, token=temp_dir / "token", cpus=args.ray_cpus
                )
            flows = flows_module(temp_dir / "work")
            client, server_pid = stack.enter_context(corridor_server(temp_dir / "home", sites))
            ours = Corridor(client, flows, temp_dir / "work")
            peer: PrefectPeer | None = None
            if not args.skip_prefect and {"inprocess", "processes"} & set(parts):
                python = prefect_python(install=not args.no_install)
                if python is not None:
                    peer = stack.enter_context(prefect_peer(python, temp_dir, process_workers=cpus))
            quiet = Quiet([server_pid, *(peer.pids if peer is not None else ())])
            peer_pids = list(peer.pids) if peer is not None else []

            def cpu_pids(name: str) -> tuple[list[int], list[int]]:
                """Prefect: its server and the peer (the flows' driver) with their children;
                Corridor: its server with its workers and jobs, and this process (the driver)."""
                if name.startswith("Prefect"):
                    return peer_pids, []
                return [server_pid], [os.getpid()]

            if args.profile is not None:
                name = {"chain": "chain_here", "fan": "fan_here", "jobs": "fan_jobs"}.get(
                    args.profile, "map_ray"
                )
                site = "ray" if name == "map_ray" else None
                ours.run(name, args.steps, site=site)  # warm
                profile(ours, name, args.steps, site, server_pid, temp_dir)
                return 0
            if "inprocess" in parts:
                sides: dict[str, Side] = {
                    "Corridor, chain": lambda n: ours.run("chain_here", n),
                    "Corridor, independent": lambda n: ours.run("fan_here", n),
                }
                if peer is not None:
                    p = peer
                    sides[f"Prefect {PREFECT_VERSION}, chain"] = lambda n: p.run("chain", n)
                    sides[f"Prefect {PREFECT_VERSION}, independent"] = lambda n: p.run(
                        "independent", n
                    )
                out += table(
                    "In process: 1 pipeline/flow of N trivial steps/tasks",
                    measure(sides, args.steps, args.repeat, warm_up, quiet, cpu_pids),
                    args.steps,
                    "Corridor, chain",
                )
            if "processes" in parts:
                sides = {"Corridor, jobs on the local site": lambda n: ours.run("fan_jobs", n)}
                if peer is not None:
                    p = peer
                    sides[f"Prefect {PREFECT_VERSION}, ProcessPoolTaskRunner({cpus})"] = lambda n: (
                        p.run("processes", n)
                    )
                out += table(
                    f"Isolated processes: N independent steps/tasks; standby_workers = "
                    f"{args.standby_workers}, preload = {preload}",
                    measure(
                        sides,
                        args.steps,
                        args.processes_repeat or args.repeat,
                        warm_up,
                        quiet,
                        cpu_pids,
                    ),
                    args.steps,
                    "Corridor, jobs on the local site",
                )
                out += job_spans(client, min(1000, args.steps))
            if "ray" in parts:
                assert plain_ray is not None
                sides = {
                    "plain Ray tasks": plain_ray,
                    "Corridor `square.map(items)` on the Ray site": lambda n: ours.run(
                        "map_ray", n, site="ray"
                    ),
                }
                out += table(
                    f"Ray: a map of N items, {args.ray_cpus} Ray CPUs",
                    measure(sides, args.steps, args.repeat, warm_up, quiet),
                    args.steps,
                    "plain Ray tasks",
                )
                out += job_spans(client, 50)
    finally:
        if "ray" in sys.modules:
            from corridor.compute.executors import ray as ray_executor

            ray_executor.leave()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(temp_dir, ignore_errors=True)
    repeats = f"median of {args.repeat}"
    if args.processes_repeat and "processes" in parts:
        repeats += f" ({args.processes_repeat} for the processes part)"
    print(f"\n{args.steps} steps, {repeats}; {machine(load_before)}")
    print("\n".join(out))
    return 0


@contextmanager
def _ray_world(temp_dir: Path, cpus: int) -> Iterator[tuple[str, Side]]:
    """A token-authenticated Ray head, this process joined to it: its address and plain Ray's
    side."""
    import ray
    from ray_head import ray_head

    from corridor.compute import ray_auth
    from corridor.compute.executors import ray as ray_executor
    from corridor.compute.sites import Site

    token_file = temp_dir / "token"
    token_file.write_text(secrets.token_hex(32))
    with ray_head(temp_dir, token_file, cpus=cpus, resources='{"bench": 100}') as head:
        site = Site(name="ray", executor="ray", address=head.address, auth_token_file=token_file)
        ray_executor.join(ray_auth.check_cluster(site))
        # Defined here, so Ray ships it by value.
        square = ray.remote(num_cpus=1, resources={"bench": 1})(square_here)
        salt = [0]

        def plain(n: int) -> float:
            salt[0] += 1_000_000
            items = range(salt[0], salt[0] + n)
            started = time.perf_counter()
            values = ray.get([square.remote(i) for i in items])
            elapsed = time.perf_counter() - started
            if values != [x * x for x in items]:
                raise RuntimeError("plain Ray returned wrong values")
            return elapsed

        yield head.address, plain


if __name__ == "__main__":
    sys.exit(main())
