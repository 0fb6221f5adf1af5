"""The one table of energy meters, by method name, and the function that picks them.

A job is measured by at most one CPU meter and, if it holds GPUs, one GPU meter: the first in
each preference list that this machine can read. Hardware counters come first (RAPL, NVML), the
documented models after them (CPU time * watts per CPU, run time * watts per GPU).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from corridor.compute.energy.base import CpuClock, EnergyMeter, EnergyReading
from corridor.compute.energy.cputime import CpuTimeMeter, ProcessTreeClock
from corridor.compute.energy.gputime import GpuTimeMeter
from corridor.compute.energy.nvml import NvmlMeter
from corridor.compute.energy.rapl import RaplMeter

DEFAULT_WATTS_PER_CPU = 10.0
DEFAULT_WATTS_PER_GPU = 250.0


@dataclass(frozen=True)
class MeterRequest:
    """What a job's meters need to know."""

    watts_per_cpu: float
    watts_per_gpu: float
    gpu_indices: tuple[int, ...]
    gpu_fraction: float
    cpu_clock: CpuClock


MeterFactory = Callable[[MeterRequest], EnergyMeter | None]
"""Opens a meter for a job, or returns None when this machine cannot read that kind."""


def _rapl(request: MeterRequest) -> EnergyMeter | None:
    zones = RaplMeter.probe()
    return RaplMeter(zones, cpu_clock=request.cpu_clock) if zones else None


def _cpu_time(request: MeterRequest) -> EnergyMeter | None:
    return CpuTimeMeter(request.watts_per_cpu, request.cpu_clock)


def _nvml(request: MeterRequest) -> EnergyMeter | None:
    return NvmlMeter.open(request.gpu_indices, gpu_fraction=request.gpu_fraction)


def _gpu_time(request: MeterRequest) -> EnergyMeter | None:
    return GpuTimeMeter(
        request.watts_per_gpu, request.gpu_indices, gpu_fraction=request.gpu_fraction
    )


METERS: dict[str, MeterFactory] = {
    "rapl": _rapl,
    "cpu-time-model": _cpu_time,
    "nvml": _nvml,
    "gpu-time-model": _gpu_time,
}
CPU_METERS = ("rapl", "cpu-time-model")
GPU_METERS = ("nvml", "gpu-time-model")


class MeterSet:
    """Several meters measuring one job as one: joules add up, methods join with "+"."""

    def __init__(self, meters: Sequence[EnergyMeter]) -> None:
        self._meters = list(meters)
        self.method = "+".join(m.method for m in self._meters)

    def start(self) -> None:
        for meter in self._meters:
            meter.start()

    def stop(self) -> EnergyReading:
        readings = [meter.stop() for meter in self._meters]
        by_device: dict[str, float] = {}
        for reading in readings:
            by_device.update(reading.by_device)
        cpu_s = next((r.cpu_s for r in readings if r.cpu_s is not None), None)
        return EnergyReading(
            joules=sum(r.joules for r in readings),
            by_device=by_device,
            method="+".join(r.method for r in readings),
            cpu_s=cpu_s,
        )


def open_meters(
    watts_per_cpu: float = DEFAULT_WATTS_PER_CPU,
    watts_per_gpu: float = DEFAULT_WATTS_PER_GPU,
    gpu_indices: Sequence[int] = (),
    *,
    gpu_fraction: float = 1.0,
    cpu_clock: CpuClock | None = None,
    methods: Sequence[str] | None = None,
) -> MeterSet:
    """The meters for one job on this machine: the best CPU meter, and a GPU meter if the job
    holds GPUs. ``methods`` limits the choice to those names (in ``METERS``), e.g. to force the
    CPU-time model; ``cpu_clock`` defaults to this process's descendants."""
    allowed = tuple(METERS) if methods is None else tuple(methods)
    unknown = [m for m in allowed if m not in METERS]
    if unknown:
        raise ValueError(f"unknown energy meter {unknown[0]!r}; known: {', '.join(METERS)}")
    if not 0 < gpu_fraction <= 1:
        raise ValueError(f"gpu_fraction must be in (0, 1], not {gpu_fraction!r}")
    request = MeterRequest(
        watts_per_cpu=watts_per_cpu,
        watts_per_gpu=watts_per_gpu,
        gpu_indices=tuple(gpu_indices),
        gpu_fraction=gpu_fraction,
        cpu_clock=cpu_clock or ProcessTreeClock(),
    )
    chosen: list[EnergyMeter] = []
    kinds = [CPU_METERS, GPU_METERS] if request.gpu_indices else [CPU_METERS]
    for preference in kinds:
        for name in preference:
            meter = METERS[name](request) if name in allowed else None
            if meter is not None:
                chosen.append(meter)
                break
    return MeterSet(chosen)


best_meter = open_meters
"""The name the compute design gives the same function."""
