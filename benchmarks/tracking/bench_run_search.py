"""The run search's handler time: MLflow's ``runs/search`` returning 300 of 600 runs.

    .venv/bin/python benchmarks/tracking/bench_run_search.py [--repeat 300] [--database-url URL]

Seeds 600 runs in one experiment, each with a metric ``m`` (0 to 599), a param, and three tags
(as the MLflow client leaves them: ``mlflow.user``, ``mlflow.runName``, and one of the caller's),
then times what the route does once the guard has let the request in: open the request's read
session, search with the filter ``metrics.m < 300`` and write the reply's bytes. No HTTP, no
middleware, no client: `bench_server_time.py` times the whole request. Printed: the median and
the 10th and 90th percentiles in milliseconds, and the median CPU time of the timing thread.

Without ``--database-url`` it runs on a new SQLite store in a temporary folder; with one (an
empty PostgreSQL database, say) it adds its experiment there.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import pydantic_core

from corridor.config import Settings
from corridor.home import init_home
from corridor.mlflow_compat.messages import SearchRuns
from corridor.mlflow_compat.run_search_reply import search_runs_out
from corridor.runtime import Runtime
from corridor.tracking import experiments, run_data, runs

T0_MS = 1_700_000_000_000
RUNS = 600
MATCHING = 300


def seed(runtime: Runtime) -> str:
    """The experiment of `RUNS` runs; return its id."""
    with runtime.db.write() as session:
        exp = experiments.create_experiment_by_name(session, f"bench-{uuid.uuid4().hex[:8]}")
    for i in range(RUNS):
        with runtime.db.write() as session:
            run_id = runs.create_run(
                session,
                exp.experiment_id,
                user="bench",
                run_name=f"r{i}",
                start_time=T0_MS + i,
                tags=[("mlflow.user", "bench")],
            ).info.run_id
            run_data.log_batch_rows(
                session,
                run_id,
                metrics=[("m", float(i), T0_MS, 0)],
                params=[("p", str(i))],
                tags=[("t", "x")],
            )
    return exp.experiment_id


def reply_bytes(runtime: Runtime, message: SearchRuns) -> bytes:
    """What the route does after its guard: the search in a read session, then the reply."""
    with runtime.db.read() as session:
        return search_runs_out(session, message).body()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        settings = Settings(home=home, database_url=args.database_url or "")
        init_home(settings)
        runtime = Runtime(settings)
        try:
            exp = seed(runtime)
            message = SearchRuns(experiment_ids=[exp], filter=f"metrics.m < {MATCHING}")
            found = pydantic_core.from_json(reply_bytes(runtime, message))["runs"]
            assert len(found) == MATCHING, len(found)
            totals, cpu = [], []
            for _ in range(args.repeat):
                started, started_cpu = time.perf_counter(), time.thread_time()
                reply_bytes(runtime, message)
                totals.append((time.perf_counter() - started) * 1000)
                cpu.append((time.thread_time() - started_cpu) * 1000)
        finally:
            runtime.close()
    totals.sort()
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"runs/search, {MATCHING} of {RUNS} runs, {backend}, {args.repeat} calls")
    # On a shared machine the low percentile shows the work, the median adds the neighbours'.
    low, high = totals[int(len(totals) * 0.1)], totals[int(len(totals) * 0.9)]
    print(f"handler: median {statistics.median(totals):.2f} ms, ", end="")
    print(f"p10 {low:.2f} ms, p90 {high:.2f} ms")
    # CPU time of this thread: the work alone, whatever else the machine runs (SQLite runs in
    # this thread; PostgreSQL's work is in its server and not counted).
    print(f"handler CPU time: median {statistics.median(cpu):.2f} ms")


if __name__ == "__main__":
    main()
