"""Prefect 3's side of the pipelines benchmark: flows of 1,000 trivial tasks, timed in here.

Run by ``bench_pipelines.py`` with the Python of Prefect's own virtual environment (Prefect pins
an older FastAPI than Corridor's, so the two cannot share one), against the Prefect server the
caller started (``PREFECT_API_URL`` is in the environment). It stays up and answers one request
per line on stdin, so that the caller can interleave Prefect's flows with Corridor's runs:

    {"case": "chain" | "independent" | "processes", "n": 1000}

and prints one JSON line per request, ``{"s": seconds, "ok": true}``: the wall time of one call
of the flow, from the call to its return value, as a user of Prefect sees it (the flow run and
every task run recorded by the server; Prefect's default settings otherwise).

- ``chain``: a ``@flow`` calling ``inc`` 1,000 times, each call on the previous call's value (a
  task called directly runs in the flow's thread and returns its value);
- ``independent``: ``inc.submit(i)`` 1,000 times, then every future's result (the default
  ``ThreadPoolTaskRunner``);
- ``processes``: the same with ``ProcessPoolTaskRunner(max_workers=CPUS)``: tasks in a pool of
  spawned processes that the flow run starts and reuses for all its tasks.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

# Prefect is in its own environment, not in the one that type-checks this file.
from prefect import flow, task  # type: ignore[import-not-found]
from prefect.task_runners import ProcessPoolTaskRunner  # type: ignore[import-not-found]

CPUS = int(os.environ.get("BENCH_PROCESS_WORKERS", str(os.cpu_count() or 1)))


@task
def inc(x: int) -> int:
    return x + 1


@flow
def chain(n: int, salt: int) -> int:
    x = salt
    for _ in range(n):
        x = inc(x)
    return x


@flow
def independent(n: int, salt: int) -> list[int]:
    futures = [inc.submit(salt + i) for i in range(n)]
    return [f.result() for f in futures]


@flow(task_runner=ProcessPoolTaskRunner(max_workers=CPUS))
def processes(n: int, salt: int) -> list[int]:
    futures = [inc.submit(salt + i) for i in range(n)]
    return [f.result() for f in futures]


FLOWS: dict[str, Any] = {"chain": chain, "independent": independent, "processes": processes}


def expected(case: str, n: int, salt: int) -> object:
    return salt + n if case == "chain" else [salt + i + 1 for i in range(n)]


def main() -> None:
    salt = 0
    out = sys.stdout
    sys.stdout = sys.stderr  # Prefect's own console output must not mix with the answers
    for line in sys.stdin:
        request = json.loads(line)
        case, n = request["case"], int(request["n"])
        salt += 1_000_000
        started = time.perf_counter()
        value = FLOWS[case](n, salt)
        elapsed = time.perf_counter() - started
        out.write(json.dumps({"s": elapsed, "ok": value == expected(case, n, salt)}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
