"""Replicas in worker processes: the same answers as in-process, and a kill -9 loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from corridor.errors import InvalidInput
from corridor.serving.replicas.base import ReplicaCrashed, ReplicaSpec
from corridor.serving.replicas.pool import ReplicaPool
from corridor.serving.replicas.process import ProcessReplica
from corridor.serving.replicas.registry import start_replica
from tests.serving.replicas.conftest import Run, spec_of
from tests.serving.replicas.packages import CLASSES, FEATURES

ROWS = np.random.default_rng(0).standard_normal((6, FEATURES))


@pytest.fixture(scope="module")
def process_pool(
    linear_package: tuple[ReplicaSpec, list[bytes]], run: Run[Any]
) -> Iterator[ReplicaPool]:
    """Two worker-process replicas of the linear model, shared by the module's tests."""
    spec, keys = linear_package
    pool = ReplicaPool(spec_of(spec, "process"), keys, replicas=2, health_interval_s=30.0)
    run(pool.start())
    assert pool.counts()["up"] == 2, pool.last_error
    yield pool
    run(pool.stop())


def _pids(pool: ReplicaPool) -> list[int]:
    return [r.pid for r in pool.replicas if isinstance(r, ProcessReplica) and r.pid is not None]


def test_a_process_replica_answers_as_the_in_process_replica_does(
    linear_package: tuple[ReplicaSpec, list[bytes]], process_pool: ReplicaPool, run: Run[Any]
) -> None:
    spec, keys = linear_package
    local = run(start_replica(spec, keys))
    try:
        expected = run(local.infer({"input": ROWS}))["output"]
    finally:
        run(local.stop())
    answer = run(process_pool.infer({"input": ROWS}))["output"]
    assert answer.shape == (len(ROWS), CLASSES)
    assert answer.flags.writeable
    np.testing.assert_array_equal(answer, expected)
    assert process_pool.signature is not None
    assert process_pool.signature.describe() == local.signature.describe()


def test_a_batch_the_model_refuses_is_answered_with_the_error_and_the_worker_lives_on(
    process_pool: ReplicaPool, run: Run[Any]
) -> None:
    pids = _pids(process_pool)
    with pytest.raises(InvalidInput):
        run(process_pool.infer({"input": np.zeros((2, FEATURES + 1))}))
    assert _pids(process_pool) == pids
    assert run(process_pool.infer({"input": ROWS}))["output"].shape == (len(ROWS), CLASSES)


def test_a_stalled_worker_is_judged_hung_and_killing_it_retries_its_batches_and_restarts_it(
    process_pool: ReplicaPool, run: Run[Any]
) -> None:
    expected = run(process_pool.infer({"input": ROWS}))["output"]
    victim = next(r for r in process_pool.replicas if isinstance(r, ProcessReplica))
    assert victim.pid is not None
    # Stopped, the worker answers nothing: every batch sent to it is surely in flight.
    os.kill(victim.pid, signal.SIGSTOP)

    async def scenario() -> list[Any]:
        batches = [asyncio.create_task(process_pool.infer({"input": ROWS})) for _ in range(12)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert victim.outstanding > 0
        assert await victim.healthy()
        victim.stall_s = 0.0  # holding batches, answering none: judged hung
        assert not await victim.healthy()
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        return await asyncio.gather(*batches)

    retried_before = process_pool.retried
    answers = run(scenario())
    assert len(answers) == 12
    for answer in answers:
        np.testing.assert_array_equal(answer["output"], expected)
    assert process_pool.retried > retried_before
    assert process_pool.restarts >= 1
    assert not run(victim.healthy())
    with pytest.raises(ReplicaCrashed):
        run(victim.infer({"input": ROWS}))
    run(victim.stop())  # stopped already by the pool: idempotent

    async def replaced() -> list[int]:
        for _ in range(600):
            if process_pool.counts()["up"] == 2:
                break
            await asyncio.sleep(0.05)
        return _pids(process_pool)

    pids = run(replaced())
    assert len(pids) == 2
    assert victim.pid not in pids


PARENT = """
import os, socket, subprocess, sys, time
ours, theirs = socket.socketpair()
child = subprocess.Popen(
    [sys.executable, "-m", "corridor.serving.replicas.worker_main",
     "--fd", str(theirs.fileno()), "--parent", str(os.getpid())],
    pass_fds=(theirs.fileno(),),
)
print(child.pid, flush=True)
time.sleep(120)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _waiting_on_socket(pid: int) -> bool:
    with open(f"/proc/{pid}/wchan") as wchan:
        return "unix_stream" in wchan.read()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_dies_with_its_parent() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        # Kill the parent once the worker is past its start, waiting on its socket.
        deadline = time.monotonic() + 60
        while not _waiting_on_socket(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiting_on_socket(worker)
        parent.kill()
    deadline = time.monotonic() + 60
    while not _gone(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(worker)
