from __future__ import annotations

import subprocess
import sys

import pytest

from corridor.compute.energy.cputime import CpuTimeMeter, ProcessTreeClock
from tests.compute.energy.conftest import BURN, BURN_CPU_S, TICK_S, burn


def test_clock_counts_a_reaped_child() -> None:
    clock = ProcessTreeClock()
    before = clock()
    burn()
    assert clock() - before >= BURN_CPU_S - TICK_S


def test_clock_counts_a_live_child_and_its_reaped_grandchild_once() -> None:
    # The child runs a grandchild that burns CPU, reaps it, says so, then waits for its stdin:
    # while the child lives, the grandchild's time is in the child's children_* times.
    child_code = (
        "import subprocess, sys\n"
        f"subprocess.run([sys.executable, '-c', {BURN!r}, '{BURN_CPU_S}'], check=True)\n"
        "print('burnt', flush=True)\n"
        "sys.stdin.read()\n"
    )
    clock = ProcessTreeClock()
    before = clock()
    child = subprocess.Popen(
        [sys.executable, "-c", child_code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        assert child.stdout.readline() == "burnt\n"
        live = clock() - before
        assert live >= BURN_CPU_S - TICK_S
        child.stdin.close()
        assert child.wait() == 0
        child.stdout.close()
    finally:
        child.kill()  # a failed assertion must not leave it running into later tests
        child.wait()
    after = clock() - before
    # Reaped, its time moved to RUSAGE_CHILDREN: still counted, and not twice (the child only
    # closed its input and exited after the live reading).
    assert live <= after < live + BURN_CPU_S / 2


def test_clock_can_include_this_process() -> None:
    with_self, without = ProcessTreeClock(include_self=True), ProcessTreeClock()
    assert with_self() > without()


def test_cpu_time_meter_charges_watts_per_cpu_second_of_a_busy_child() -> None:
    meter = CpuTimeMeter(watts_per_cpu=12.0)
    meter.start()
    burn()
    reading = meter.stop()
    assert reading.method == "cpu-time-model"
    assert reading.cpu_s is not None
    assert reading.cpu_s >= BURN_CPU_S - TICK_S
    assert reading.joules == pytest.approx(reading.cpu_s * 12.0)
    assert dict(reading.by_device) == {"cpu": reading.joules}


def test_cpu_time_meter_refuses_negative_watts_and_stop_before_start() -> None:
    with pytest.raises(ValueError, match="watts_per_cpu"):
        CpuTimeMeter(watts_per_cpu=-1.0)
    with pytest.raises(RuntimeError, match="before start"):
        CpuTimeMeter(watts_per_cpu=1.0).stop()
