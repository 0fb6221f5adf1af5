"""The GPU fallback: wall time * ``watts_per_gpu`` for each GPU the job holds.

Used when a job was given GPUs but NVML cannot read them (no driver library, or a GPU declared
in the site's config that this machine does not show). A GPU is charged its full
``watts_per_gpu`` (default 250 W) for the whole run, times the fraction the job asked for: an
upper bound for a busy GPU, stored under the method ``gpu-time-model`` so it is never mistaken
for a measurement.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from corridor.compute.energy.base import EnergyReading

METHOD = "gpu-time-model"


class GpuTimeMeter:
    """Energy = run seconds * ``watts_per_gpu`` * ``gpu_fraction``, per GPU."""

    method = METHOD

    def __init__(
        self, watts_per_gpu: float, gpu_indices: Sequence[int], *, gpu_fraction: float = 1.0
    ) -> None:
        self._watts = watts_per_gpu
        self._indices = tuple(gpu_indices)
        self._fraction = gpu_fraction
        self._start_s: float | None = None

    def start(self) -> None:
        self._start_s = time.monotonic()

    def stop(self) -> EnergyReading:
        if self._start_s is None:
            raise RuntimeError("stop() called before start()")
        run_s = time.monotonic() - self._start_s
        per_gpu_j = run_s * self._watts * self._fraction
        by_device = {f"gpu{i}": per_gpu_j for i in self._indices}
        return EnergyReading(joules=sum(by_device.values()), by_device=by_device, method=METHOD)
