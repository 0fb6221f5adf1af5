"""The meter interface, the reading it returns, and the sampling thread some meters need."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

CpuClock = Callable[[], float]
"""Returns the CPU seconds (user + system) a job has used so far; only differences matter."""


@dataclass(frozen=True)
class EnergyReading:
    """Energy one job used between `start` and `stop`.

    ``by_device`` splits ``joules`` over devices ("package-0", "dram-0", "gpu1", "cpu"...);
    ``method`` names how the figure was obtained, joined with "+" when several meters
    contributed (``"rapl+nvml"``); ``cpu_s`` is the job's CPU time, when the meter knew it.
    """

    joules: float
    by_device: Mapping[str, float] = field(default_factory=dict)
    method: str = ""
    cpu_s: float | None = None


class EnergyMeter(Protocol):
    """Measures one job: call `start` once before it runs and `stop` once after it ends."""

    method: str

    def start(self) -> None: ...

    def stop(self) -> EnergyReading: ...


class Sampler:
    """Calls ``sample`` every ``interval_s`` on a daemon thread until stopped.

    Counters that wrap (RAPL) must be read more often than they wrap, and GPUs without an energy
    counter are integrated from power samples; both need readings between `start` and `stop`.
    """

    def __init__(self, sample: Callable[[], None], interval_s: float, name: str) -> None:
        self._sample = sample
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval_s):
            self._sample()
