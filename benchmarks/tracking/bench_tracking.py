"""MLflow tracking throughput: Corridor against the real MLflow server, one MLflow client.

    .venv/bin/python benchmarks/tracking/bench_tracking.py [--quick] [--repeat 3] [--dir DIR]
                                                           [--only mlflow|corridor]

Starts ``mlflow server`` (SQLite backend store, ``--artifacts-destination``, ``--workers 1``:
one process, as ``corridor server`` is) and ``corridor server`` (SQLite) on free loopback ports,
side by side, and drives both with the same `MlflowClient` code:

(a) 20 runs x 5,000 metric points through ``log_batch``, 1,000 points per call;
(b) 2,000 single ``log_metric`` calls;
(c) ``search_runs`` with a metric filter over 10,000 runs, paging through every match (the runs
    are created beforehand, concurrently; only the search is timed);
(d) ``get_metric_history`` of a metric with 100,000 points.

Each timed part runs ``--repeat`` times, the two servers interleaved, and the medians are printed
as Markdown rows with the Corridor / MLflow ratio. ``--quick`` shrinks every size by about 10x.
The figures include the MLflow client's own work (building and parsing its messages), which is
the same for both servers. To show how much that is, the same code also runs against a server
that stores nothing and answers at once (`null_server.py`, "client alone"): MLflow's time
divided by that is the highest ratio any server could reach (the "ceiling" column).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# The client must not phone home or retry for minutes on a failed call while we measure.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"

import httpx

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

from corridor.config import Settings
from corridor.home import init_home
from corridor.quickstart import ServerProcess, free_port

START_TIMEOUT_S = 120.0
CLIENT_ALONE = "client alone"
NULL_RUN_ID = "0123456789abcdef0123456789abcdef"
BATCH = 1000
T0_MS = 1_700_000_000_000


@dataclass(frozen=True)
class Sizes:
    batch_runs: int = 20
    points_per_run: int = 5_000
    single_calls: int = 2_000
    search_runs: int = 10_000
    history_points: int = 100_000

    @classmethod
    def quick(cls) -> Sizes:
        return cls(batch_runs=4, single_calls=300, search_runs=1_000, history_points=20_000)


@dataclass
class Target:
    """One server under test and what the scenarios prepared on it."""

    name: str
    url: str
    token: str | None
    prepared: dict[str, str] = field(default_factory=dict)

    @contextlib.contextmanager
    def client(self) -> Iterator[MlflowClient]:
        # MLflow reads the token from the environment on every request.
        if self.token:
            os.environ["MLFLOW_TRACKING_TOKEN"] = self.token
        else:
            os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        mlflow.set_tracking_uri(self.url)
        yield MlflowClient(tracking_uri=self.url)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited early:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {START_TIMEOUT_S:.0f} s")


@contextlib.contextmanager
def _serving(name: str, command: list[str], port: int, log: Path) -> Iterator[Target]:
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=os.environ)
    try:
        _wait_ready(url, process, log)
        yield Target(name, url, None)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def mlflow_server(work: Path) -> contextlib.AbstractContextManager[Target]:
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
        "--artifacts-destination", str(work / "mlflow-artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    return _serving("MLflow", command, port, work / "mlflow-server.log")


def null_server(work: Path, sizes: Sizes) -> contextlib.AbstractContextManager[Target]:
    port = free_port()
    command = [
        sys.executable, str(Path(__file__).with_name("null_server.py")), "--port", str(port),
        "--search-runs", str(sizes.search_runs), "--history-points", str(sizes.history_points),
    ]  # fmt: skip
    return _serving(CLIENT_ALONE, command, port, work / "null-server.log")


@contextlib.contextmanager
def corridor_server(work: Path) -> Iterator[Target]:
    home = work / "corridor-home"
    home.mkdir()
    result = init_home(Settings(home=home, database_url=f"sqlite:///{home / 'corridor.db'}"))
    server = ServerProcess(home, free_port())
    try:
        server.wait_ready(START_TIMEOUT_S)
        yield Target("Corridor", server.url, result.admin_token)
    finally:
        server.stop()


# --- scenarios: each returns (seconds, units done) ------------------------------------------


def _batches(prefix: str, points: int) -> Iterator[list[Metric]]:
    for start in range(0, points, BATCH):
        yield [
            Metric(prefix, random.random(), T0_MS + i, i)
            for i in range(start, min(points, start + BATCH))
        ]


def log_batch_scenario(target: Target, sizes: Sizes, round_no: int) -> tuple[float, int]:
    with target.client() as client:
        exp = client.create_experiment(f"bench-batch-{round_no}-{time.time_ns()}")
        run_ids = [client.create_run(exp).info.run_id for _ in range(sizes.batch_runs)]
        work = [(r, b) for r in run_ids for b in _batches("loss", sizes.points_per_run)]

        def go() -> None:
            for run_id, batch in work:
                client.log_batch(run_id, metrics=batch)

        return _timed(go), sizes.batch_runs * sizes.points_per_run


def log_metric_scenario(target: Target, sizes: Sizes, round_no: int) -> tuple[float, int]:
    with target.client() as client:
        exp = client.create_experiment(f"bench-single-{round_no}-{time.time_ns()}")
        run_id = client.create_run(exp).info.run_id

        def go() -> None:
            for i in range(sizes.single_calls):
                client.log_metric(run_id, "loss", random.random(), timestamp=T0_MS + i, step=i)

        return _timed(go), sizes.single_calls


def prepare_search(target: Target, sizes: Sizes) -> None:
    """Create ``search_runs`` runs, each with a ``score`` metric and a param, concurrently."""
    with target.client() as client:
        exp = client.create_experiment(f"bench-search-{time.time_ns()}")

        def one(i: int) -> None:
            run_id = client.create_run(exp, run_name=f"r{i}").info.run_id
            client.log_batch(
                run_id,
                metrics=[Metric("score", random.random(), T0_MS, 0)],
                params=[mlflow.entities.Param("i", str(i))],
            )

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(sizes.search_runs)))
        target.prepared["search_experiment"] = exp


def search_scenario(target: Target, sizes: Sizes, round_no: int) -> tuple[float, int]:
    exp = target.prepared["search_experiment"]
    found = 0
    with target.client() as client:

        def go() -> None:
            nonlocal found
            token = None
            found = 0
            while True:
                page = client.search_runs(
                    [exp],
                    filter_string="metrics.score > 0.5",
                    order_by=["metrics.score DESC"],
                    max_results=1000,
                    page_token=token,
                )
                found += len(page)
                token = page.token
                if not token:
                    break

        seconds = _timed(go)
    # Units: the runs searched over, so that the figure is independent of how many matched.
    assert found > 0
    return seconds, sizes.search_runs


def prepare_history(target: Target, sizes: Sizes) -> None:
    with target.client() as client:
        exp = client.create_experiment(f"bench-history-{time.time_ns()}")
        run_id = client.create_run(exp).info.run_id
        for batch in _batches("curve", sizes.history_points):
            client.log_batch(run_id, metrics=batch)
        target.prepared["history_run"] = run_id


def history_scenario(target: Target, sizes: Sizes, round_no: int) -> tuple[float, int]:
    run_id = target.prepared["history_run"]
    with target.client() as client:
        points: list[Metric] = []

        def go() -> None:
            points[:] = client.get_metric_history(run_id, "curve")

        seconds = _timed(go)
    assert len(points) == sizes.history_points, len(points)
    return seconds, sizes.history_points


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    unit: str
    goal: float
    run: Callable[[Target, Sizes, int], tuple[float, int]]
    prepare: Callable[[Target, Sizes], None] | None = None


SCENARIOS = (
    Scenario("a", "log_batch, 1,000 points per call", "points/s", 5.0, log_batch_scenario),
    Scenario("b", "single log_metric calls", "calls/s", 2.0, log_metric_scenario),
    Scenario(
        "c", "search_runs, metric filter", "runs searched/s", 5.0, search_scenario, prepare_search
    ),
    Scenario("d", "get_metric_history", "points/s", 5.0, history_scenario, prepare_history),
)


def describe(sizes: Sizes) -> dict[str, str]:
    return {
        "a": f"{sizes.batch_runs} runs x {sizes.points_per_run:,} points",
        "b": f"{sizes.single_calls:,} calls",
        "c": f"over {sizes.search_runs:,} runs",
        "d": f"{sizes.history_points:,} points",
    }


def measure(targets: list[Target], sizes: Sizes, repeat: int) -> dict[tuple[str, str], float]:
    """Median throughput per (scenario, target), the targets interleaved within each round."""
    rates: dict[tuple[str, str], list[float]] = {}
    for scenario in SCENARIOS:
        if scenario.prepare is not None:
            for target in targets:
                if target.name == CLIENT_ALONE:
                    # It stores nothing: its answers already hold the runs and the points.
                    target.prepared.update(search_experiment="1", history_run=NULL_RUN_ID)
                    continue
                print(f"  preparing ({scenario.key}) on {target.name}...", file=sys.stderr)
                scenario.prepare(target, sizes)
        for round_no in range(repeat):
            for target in targets:
                seconds, units = scenario.run(target, sizes, round_no)
                rates.setdefault((scenario.key, target.name), []).append(units / seconds)
                print(
                    f"  ({scenario.key}) {target.name} round {round_no + 1}: {seconds:.2f} s",
                    file=sys.stderr,
                )
    return {k: statistics.median(v) for k, v in rates.items()}


def report(rates: dict[tuple[str, str], float], sizes: Sizes, repeat: int) -> None:
    shown = describe(sizes)
    print(f"<!-- {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]},")
    print(f"     MLflow {mlflow.__version__} server with --workers 1 and SQLite; corridor server")
    print(f"     with SQLite; one MLflow client drives both; median of {repeat} rounds -->")
    print("| scenario | size | unit | Corridor | MLflow | ratio | goal | client alone | ceiling |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")

    def rate(value: float | None) -> str:
        return f"{value:,.0f}" if value else "n/a"

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.1f}x" if a and b else "n/a"

    for s in SCENARIOS:
        ours, theirs = rates.get((s.key, "Corridor")), rates.get((s.key, "MLflow"))
        alone = rates.get((s.key, CLIENT_ALONE))
        print(
            f"| ({s.key}) {s.title} | {shown[s.key]} | {s.unit} | {rate(ours)} | {rate(theirs)} "
            f"| {ratio(ours, theirs)} | >= {s.goal:.0f}x | {rate(alone)} | {ratio(alone, theirs)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 10x smaller sizes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where servers keep their data")
    parser.add_argument("--only", choices=("mlflow", "corridor"), default=None)
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the client-alone run (null_server.py)"
    )
    args = parser.parse_args()
    sizes = Sizes.quick() if args.quick else Sizes()
    work = Path(tempfile.mkdtemp(prefix="bench-tracking-", dir=args.dir))
    try:
        with contextlib.ExitStack() as stack:
            targets = []
            if args.only != "corridor":
                targets.append(stack.enter_context(mlflow_server(work)))
            if args.only != "mlflow":
                targets.append(stack.enter_context(corridor_server(work)))
            if not args.no_floor:
                targets.append(stack.enter_context(null_server(work, sizes)))
            rates = measure(targets, sizes, args.repeat)
        report(rates, sizes, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
