"""Corridor's own time per MLflow request, without a client library or a network in between.

    .venv/bin/python benchmarks/tracking/bench_server_time.py [--repeat 200] [--database-url URL]

Builds the app over a fresh home and sends raw MLflow JSON through an in-process ASGI transport,
so that what is timed is the middleware, the guard, the handler and the database, plus a small,
constant cost of the transport. It complements `bench_tracking.py`, whose figures include the
MLflow client's work: this one shows where a change to the request path moves the server's
share. Printed per scenario: the median and the 90th percentile in milliseconds.

(a) ``runs/log-metric``, one point; (b) ``runs/log-batch``, 1,000 points; (c) ``runs/get``;
(d) ``runs/search`` returning 300 of 600 runs (a metric filter). Then (e): ``runs/log-metric``
from 8 concurrent callers, ``repeat`` requests in all, printed as requests per second: writers
queue for SQLite's one write lock, so this shows how long each write holds it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from corridor.config import Settings
from corridor.home import init_home
from corridor.runtime import Runtime
from corridor.server.app import create_app

API = "http://bench/api/2.0/mlflow"
T0_MS = 1_700_000_000_000


async def _timed(repeat: int, call: Callable[[int], Awaitable[Any]]) -> tuple[float, float]:
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        await call(i)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


async def _run(home: Path, database_url: str | None, repeat: int) -> None:
    settings = (
        Settings(home=home, database_url=database_url) if database_url else Settings(home=home)
    )
    token = init_home(settings).admin_token
    runtime = Runtime(settings)
    app = create_app(runtime)
    headers = {"authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=API, headers=headers) as http:

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = await http.post(path, json=body)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

        exp = (await post("/experiments/create", {"name": "bench"}))["experiment_id"]

        async def new_run(name: str) -> str:
            body = {"experiment_id": exp, "run_name": name, "start_time": T0_MS}
            return str((await post("/runs/create", body))["run"]["info"]["run_id"])

        run_id = await new_run("hot")
        batch = [
            {"key": "loss", "value": i * 0.5, "timestamp": T0_MS + i, "step": i}
            for i in range(1000)
        ]
        for i in range(600):
            rid = await new_run(f"r{i}")
            await post(
                "/runs/log-batch",
                {
                    "run_id": rid,
                    "metrics": [{"key": "m", "value": i, "timestamp": T0_MS, "step": 0}],
                    "params": [{"key": "p", "value": str(i)}],
                    "tags": [{"key": "t", "value": "x"}],
                },
            )

        scenarios: dict[str, Callable[[int], Awaitable[Any]]] = {
            "(a) log-metric": lambda i: post(
                "/runs/log-metric",
                {"run_id": run_id, "key": "acc", "value": 0.5, "timestamp": T0_MS + i, "step": i},
            ),
            "(b) log-batch, 1,000 points": lambda i: post(
                "/runs/log-batch",
                {
                    "run_id": run_id,
                    "metrics": [dict(p, step=p["step"] + 1000 * (i + 1)) for p in batch],
                },
            ),
            "(c) runs/get": lambda i: http.get("/runs/get", params={"run_id": run_id}),
            "(d) runs/search, 300 of 600": lambda i: _search(post, exp),
        }
        print(f"| scenario | median ms | p90 ms |  (repeat {repeat})")
        print("|---|---:|---:|")
        for name, call in scenarios.items():
            n = repeat if "search" not in name else max(repeat // 4, 10)
            median, p90 = await _timed(n, call)
            print(f"| {name} | {median:.2f} | {p90:.2f} |")

        async def writer(index: int, count: int) -> None:
            for i in range(count):
                point = {"key": f"c{index}", "value": 0.5, "timestamp": T0_MS + i, "step": i}
                await post("/runs/log-metric", {"run_id": run_id, **point})

        callers = 8
        started = time.perf_counter()
        await asyncio.gather(*(writer(w, repeat // callers) for w in range(callers)))
        rate = callers * (repeat // callers) / (time.perf_counter() - started)
        print(f"| (e) log-metric, {callers} concurrent callers | {rate:.0f} requests/s | |")
    runtime.close()


async def _search(
    post: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]], exp: str
) -> None:
    body = {"experiment_ids": [exp], "filter": "metrics.m < 300", "max_results": 1000}
    found = await post("/runs/search", body)
    assert len(found["runs"]) == 300, len(found["runs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run(Path(tmp) / "home", args.database_url, args.repeat))


if __name__ == "__main__":
    main()
