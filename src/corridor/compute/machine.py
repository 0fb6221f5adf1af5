"""The size of the machine this process runs on: what the default `local` site offers."""

from __future__ import annotations

import os

from corridor.compute.energy.nvml import gpu_names
from corridor.compute.sansio.resources import Resources


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which containers and taskset
    narrow), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def machine_resources() -> tuple[Resources, tuple[str, ...]]:
    """This machine's CPUs, physical memory and NVIDIA GPUs (NVML; none without it), and the
    GPUs' model names."""
    import psutil

    names = gpu_names()
    resources = Resources(
        cpus=float(usable_cpus()),
        memory_bytes=int(psutil.virtual_memory().total),
        gpus=float(len(names)),
    )
    return resources, tuple(names)
