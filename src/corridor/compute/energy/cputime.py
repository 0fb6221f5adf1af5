"""The fallback meter: a job's CPU time times a per-core power figure.

Where no hardware counter is readable (RAPL is root-only on most kernels, and absent in most
virtual machines), energy is estimated as ``cpu_s * watts_per_cpu``: the CPU seconds the job and
all its descendants used, times the site's ``watts_per_cpu`` (default 10 W, about one busy core
of a server CPU). It counts neither idle power nor memory or disk, and says so by its method
name, ``cpu-time-model``, stored beside the figure.
"""

from __future__ import annotations

import os
import resource

from corridor.compute.energy.base import CpuClock, EnergyReading

METHOD = "cpu-time-model"


class ProcessTreeClock:
    """CPU seconds used by this process's descendants (and, if asked, by itself).

    A descendant is counted live (its own time plus that of the children it has reaped, read
    with psutil) until it is reaped by this process; from then on its whole time is in
    ``getrusage(RUSAGE_CHILDREN)``. Each second is thus counted once, in one place or the other.
    A grandchild whose parent exits before it does is re-parented away and its time is lost.
    """

    def __init__(self, *, include_self: bool = False) -> None:
        self._include_self = include_self

    def __call__(self) -> float:
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        total = reaped.ru_utime + reaped.ru_stime
        if self._include_self:
            own = resource.getrusage(resource.RUSAGE_SELF)
            total += own.ru_utime + own.ru_stime
        return total + _live_descendants_cpu_s()


def _live_descendants_cpu_s() -> float:
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency; reaped time still counts
        return 0.0
    total = 0.0
    try:
        children = psutil.Process(os.getpid()).children(recursive=True)
    except psutil.Error:  # pragma: no cover - this process always exists
        return 0.0
    for child in children:
        try:
            t = child.cpu_times()
        except psutil.Error:  # exited and reaped between listing and reading: counted as reaped
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


class CpuTimeMeter:
    """Energy = the job's CPU seconds * ``watts_per_cpu``."""

    method = METHOD

    def __init__(self, watts_per_cpu: float, cpu_clock: CpuClock | None = None) -> None:
        if not watts_per_cpu >= 0:
            raise ValueError(f"watts_per_cpu must be 0 or more, not {watts_per_cpu!r}")
        self._watts_per_cpu = watts_per_cpu
        self._clock = cpu_clock or ProcessTreeClock()
        self._start_cpu_s: float | None = None

    def start(self) -> None:
        self._start_cpu_s = self._clock()

    def stop(self) -> EnergyReading:
        if self._start_cpu_s is None:
            raise RuntimeError("stop() called before start()")
        cpu_s = max(0.0, self._clock() - self._start_cpu_s)
        joules = cpu_s * self._watts_per_cpu
        return EnergyReading(joules=joules, by_device={"cpu": joules}, method=METHOD, cpu_s=cpu_s)
