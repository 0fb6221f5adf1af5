"""NVIDIA GPUs through NVML (the ``nvidia-ml-py`` package, imported as ``pynvml``).

Volta and later GPUs keep an energy counter (``nvmlDeviceGetTotalEnergyConsumption``, in
millijoules since the driver loaded): the job's figure is its difference over the run. Older
GPUs only report power (``nvmlDeviceGetPowerUsage``, milliwatts), integrated here from samples
every ``sample_interval_s`` seconds with the trapezoid rule; the method then reads
``nvml-power-samples``. GPU indices are NVML's (physical, ignoring ``CUDA_VISIBLE_DEVICES``),
as the executor assigns them. A GPU shared by several jobs is charged to each in proportion to
the fraction it asked for (``gpu_fraction``), as NVML cannot split a device's energy by process.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from types import ModuleType
from typing import cast

from corridor.compute.energy.base import EnergyReading, Sampler

METHOD = "nvml"
SAMPLED_METHOD = "nvml-power-samples"


def load_nvml() -> ModuleType | None:
    """``pynvml``, initialised, or None when the package or the driver is missing."""
    try:
        nvml = importlib.import_module("pynvml")
    except ImportError:
        return None
    try:
        nvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound, _DriverNotLoaded...: no usable GPU here
        return None
    return nvml


def gpu_count() -> int:
    """How many GPUs NVML sees on this machine (0 without NVML)."""
    return len(gpu_names())


def gpu_names() -> list[str]:
    """The model name of each GPU NVML sees, by index ("NVIDIA H100 80GB HBM3"); [] without."""
    nvml = load_nvml()
    if nvml is None:
        return []
    try:
        names = []
        for index in range(int(nvml.nvmlDeviceGetCount())):
            name = nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(index))
            names.append(name.decode() if isinstance(name, bytes) else str(name))
        return names
    finally:
        nvml.nvmlShutdown()


class NvmlMeter:
    """Energy of the GPUs ``gpu_indices`` over a job's run, times ``gpu_fraction``."""

    method = METHOD

    def __init__(
        self,
        nvml: ModuleType,
        gpu_indices: Sequence[int],
        *,
        gpu_fraction: float = 1.0,
        sample_interval_s: float = 0.5,
    ) -> None:
        self._nvml = nvml
        self._handles = [(i, nvml.nvmlDeviceGetHandleByIndex(i)) for i in gpu_indices]
        self._fraction = gpu_fraction
        self._start_mj: dict[int, int] = {}
        self._sampled_j = dict.fromkeys(gpu_indices, 0.0)
        self._last_power: dict[int, tuple[float, float]] = {}  # index -> (monotonic s, watts)
        self._sampler = Sampler(self._sample, sample_interval_s, "corridor-nvml")
        self._needs_sampling = False

    @classmethod
    def open(cls, gpu_indices: Sequence[int], *, gpu_fraction: float = 1.0) -> NvmlMeter | None:
        """A meter over ``gpu_indices``, or None when NVML cannot see them all."""
        if not gpu_indices:
            return None
        nvml = load_nvml()
        if nvml is None:
            return None
        try:
            if max(gpu_indices) >= int(nvml.nvmlDeviceGetCount()):
                nvml.nvmlShutdown()
                return None
            return cls(nvml, gpu_indices, gpu_fraction=gpu_fraction)
        except Exception:
            nvml.nvmlShutdown()
            return None

    def start(self) -> None:
        for index, handle in self._handles:
            try:
                self._start_mj[index] = int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
            except Exception:  # NVMLError_NotSupported on pre-Volta GPUs: integrate power
                self._needs_sampling = True
                self._last_power[index] = (time.monotonic(), self._watts(handle))
        if self._needs_sampling:
            self._sampler.start()

    def stop(self) -> EnergyReading:
        if self._needs_sampling:
            self._sampler.stop()
            self._sample()
        by_device = {}
        for index, handle in self._handles:
            if index in self._start_mj:
                end_mj = int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
                joules = (end_mj - self._start_mj[index]) / 1e3
            else:
                joules = self._sampled_j[index]
            by_device[f"gpu{index}"] = max(0.0, joules) * self._fraction
        self._nvml.nvmlShutdown()
        method = SAMPLED_METHOD if self._needs_sampling else METHOD
        return EnergyReading(joules=sum(by_device.values()), by_device=by_device, method=method)

    def _sample(self) -> None:
        for index, handle in self._handles:
            if index not in self._last_power:
                continue
            then_s, then_w = self._last_power[index]
            now_s, now_w = time.monotonic(), self._watts(handle)
            self._sampled_j[index] += (now_s - then_s) * (then_w + now_w) / 2
            self._last_power[index] = (now_s, now_w)

    def _watts(self, handle: object) -> float:
        return cast(int, self._nvml.nvmlDeviceGetPowerUsage(handle)) / 1e3
