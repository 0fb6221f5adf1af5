"""RAPL through Linux powercap: the CPU packages' (and DRAM's) energy counters, shared out by
CPU time.

``/sys/class/powercap/intel-rapl:N/energy_uj`` counts the microjoules package N has used since
boot; subzone ``intel-rapl:N:M`` named ``dram`` counts its memory, which the package counter
leaves out (``core``/``uncore`` subzones are inside the package and ``psys`` covers the whole
platform, so both are skipped to count nothing twice). AMD CPUs expose the same files.

The counters belong to the machine, not to a job. A job's share over each sampling interval is

    package energy * job CPU seconds / machine busy CPU seconds

(machine busy time from ``/proc/stat``: user, nice, system, irq, softirq, steal). Idle and uncore
power are thus shared among whatever was busy, in proportion to CPU time; a job alone on an
otherwise idle machine is charged the whole package. Counters wrap at ``max_energy_range_uj``
(a few hundred kJ, minutes at full load), so the meter samples every ``sample_interval_s``
seconds and adds one range back whenever a reading is below the previous one.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from corridor.compute.energy.base import CpuClock, EnergyReading, Sampler
from corridor.compute.energy.cputime import ProcessTreeClock

METHOD = "rapl"
POWERCAP = Path("/sys/class/powercap")
PROC_STAT = Path("/proc/stat")
_ZONE = re.compile(r"intel-rapl:(\d+)(?::(\d+))?")
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user nice system [idle iowait] irq softirq steal


@dataclass(frozen=True)
class Zone:
    """One counter: the device name it is reported under, and its files."""

    device: str
    energy_file: Path
    range_uj: int


def find_zones(root: Path = POWERCAP) -> list[Zone]:
    """The package and DRAM counters under ``root`` that this process can read."""
    zones = []
    for path in sorted(root.glob("intel-rapl:*")):
        match = _ZONE.fullmatch(path.name)
        if match is None:
            continue
        try:
            name = (path / "name").read_text().strip()
            range_uj = int((path / "max_energy_range_uj").read_text())
            int((path / "energy_uj").read_text())
        except (OSError, ValueError):
            continue  # root-only (the usual case since 2020) or not a counter
        package, sub = match.groups()
        if sub is None and name.startswith("package"):
            device = name
        elif sub is not None and name == "dram":
            device = f"dram-{package}"
        else:
            continue
        zones.append(Zone(device, path / "energy_uj", range_uj))
    return zones


def machine_busy_s(proc_stat: Path = PROC_STAT) -> float:
    """Busy CPU seconds of the whole machine since boot, from the ``cpu`` line of /proc/stat."""
    with proc_stat.open() as f:
        fields = f.readline().split()
    if not fields or fields[0] != "cpu":
        raise ValueError(f"{proc_stat} does not start with a 'cpu' line")
    ticks = [int(v) for v in fields[1:]]
    return sum(ticks[i] for i in _BUSY_FIELDS if i < len(ticks)) / os.sysconf("SC_CLK_TCK")


class RaplMeter:
    """A job's share of the RAPL counters, by CPU time (see the module docstring)."""

    method = METHOD

    def __init__(
        self,
        zones: list[Zone],
        *,
        cpu_clock: CpuClock | None = None,
        proc_stat: Path = PROC_STAT,
        sample_interval_s: float = 10.0,
    ) -> None:
        if not zones:
            raise ValueError("RaplMeter needs at least one readable zone")
        self._zones = zones
        self._clock = cpu_clock or ProcessTreeClock()
        self._proc_stat = proc_stat
        self._sampler = Sampler(self.sample, sample_interval_s, "corridor-rapl")
        self._last_uj: list[int] = []
        self._last_job_s = 0.0
        self._last_busy_s = 0.0
        self._start_job_s = 0.0
        self._joules = dict.fromkeys((z.device for z in zones), 0.0)
        self._lock = threading.Lock()  # the sampler thread and the caller may sample at once

    @classmethod
    def probe(cls, root: Path = POWERCAP, proc_stat: Path = PROC_STAT) -> list[Zone]:
        """The zones a meter could read here; empty when RAPL is absent or unreadable."""
        try:
            machine_busy_s(proc_stat)
        except (OSError, ValueError):
            return []
        return find_zones(root)

    def start(self) -> None:
        self._last_uj = [self._read(z) for z in self._zones]
        self._last_job_s = self._start_job_s = self._clock()
        self._last_busy_s = machine_busy_s(self._proc_stat)
        self._sampler.start()

    def stop(self) -> EnergyReading:
        self._sampler.stop()
        self.sample()
        total = sum(self._joules.values())
        return EnergyReading(
            joules=total,
            by_device=dict(self._joules),
            method=METHOD,
            cpu_s=max(0.0, self._last_job_s - self._start_job_s),
        )

    def sample(self) -> None:
        """Add the job's share since the last reading (the sampler calls this; so may you)."""
        with self._lock:
            self._sample_locked()

    def _sample_locked(self) -> None:
        now_uj = [self._read(z) for z in self._zones]
        job_s = self._clock()
        busy_s = machine_busy_s(self._proc_stat)
        d_job = max(0.0, job_s - self._last_job_s)
        d_busy = busy_s - self._last_busy_s
        # The job's CPU time can exceed the machine's busy time over a short interval only through
        # rounding to clock ticks; it cannot be more than all of it.
        share = min(1.0, d_job / d_busy) if d_busy > 0 else (1.0 if d_job > 0 else 0.0)
        for zone, before, after in zip(self._zones, self._last_uj, now_uj, strict=True):
            delta_uj = after - before if after >= before else after + zone.range_uj - before
            self._joules[zone.device] += delta_uj / 1e6 * share
        self._last_uj, self._last_job_s, self._last_busy_s = now_uj, job_s, busy_s

    @staticmethod
    def _read(zone: Zone) -> int:
        return int(zone.energy_file.read_text())
