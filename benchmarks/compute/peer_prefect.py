"""Prefect's process worker, timed from creating a flow run to seeing it RUNNING.

Run by ``bench_submit_latency.py`` with the Python of a separate virtual environment that has
Prefect (Prefect pins an older FastAPI than Corridor's, so the two cannot share one), against a
Prefect server that the caller started: ``PREFECT_API_URL`` is in the environment. Prints one
JSON object: ``{"ms": [...]}``.

    python peer_prefect.py --work-dir DIR --repeat 10 --poll-s 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

FLOW = """
from prefect import flow


@flow
def noop() -> None:
    pass
"""


async def _wait_running(client: object, run_id: object, poll_s: float) -> None:
    while True:
        run = await client.read_flow_run(run_id)  # type: ignore[attr-defined]
        if run.state is not None and run.state.type.value in ("RUNNING", "COMPLETED", "FAILED"):
            return
        await asyncio.sleep(poll_s)


async def _measure(work_dir: Path, repeat: int, query_s: float) -> list[float]:
    # Prefect is in its own environment, not in the one that type-checks this file.
    from prefect import flow  # type: ignore[import-not-found]
    from prefect.client.orchestration import get_client  # type: ignore[import-not-found]
    from prefect.deployments import run_deployment  # type: ignore[import-not-found]

    (work_dir / "flows.py").write_text(FLOW)
    subprocess.run(
        [sys.executable, "-m", "prefect", "work-pool", "create", "bench", "--type", "process"],
        check=True,
        capture_output=True,
    )
    source = await flow.from_source(source=str(work_dir), entrypoint="flows.py:noop")
    deployment_id = await source.deploy(name="noop", work_pool_name="bench", print_next_steps=False)
    env = {**os.environ, "PREFECT_WORKER_QUERY_SECONDS": str(query_s)}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            "bench",
            "--type",
            "process",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    times: list[float] = []
    try:
        async with get_client() as client:
            for i in range(repeat + 1):
                started = time.perf_counter()
                run = await run_deployment(deployment_id, timeout=0)
                await _wait_running(client, run.id, 0.005)
                if i:  # the first run warms the worker up
                    times.append((time.perf_counter() - started) * 1000)
                while True:  # one at a time, like the other two
                    state = (await client.read_flow_run(run.id)).state
                    if state is not None and state.is_final():
                        break
                    await asyncio.sleep(0.05)
    finally:
        worker.terminate()
        worker.wait(30)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--poll-s", type=float, default=1.0, help="the worker's polling interval")
    options = parser.parse_args()
    ms = asyncio.run(_measure(options.work_dir, options.repeat, options.poll_s))
    print(json.dumps({"ms": ms}))


if __name__ == "__main__":
    main()
