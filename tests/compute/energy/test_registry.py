from __future__ import annotations

import time

import pytest

from corridor.compute.energy import nvml
from corridor.compute.energy.gputime import GpuTimeMeter
from corridor.compute.energy.rapl import RaplMeter
from corridor.compute.energy.registry import CPU_METERS, GPU_METERS, METERS, open_meters
from tests.compute.energy.conftest import BURN_CPU_S, TICK_S, burn


def _expected_cpu_method() -> str:
    return "rapl" if RaplMeter.probe() else "cpu-time-model"


def _expected_gpu_method(indices: tuple[int, ...]) -> str:
    return "nvml" if max(indices) < nvml.gpu_count() else "gpu-time-model"


def test_every_preferred_meter_is_in_the_table() -> None:
    assert set(CPU_METERS) | set(GPU_METERS) == set(METERS)


def test_cpu_only_job_gets_the_best_cpu_meter_and_its_cpu_time() -> None:
    meters = open_meters(watts_per_cpu=10.0)
    assert meters.method == _expected_cpu_method()
    meters.start()
    burn()
    reading = meters.stop()
    assert reading.method == meters.method
    assert reading.cpu_s is not None
    assert reading.cpu_s >= BURN_CPU_S - TICK_S
    assert reading.joules == pytest.approx(sum(reading.by_device.values()))
    assert reading.joules > 0


def test_gpu_job_adds_a_gpu_meter_and_the_methods_join() -> None:
    meters = open_meters(watts_per_cpu=10.0, watts_per_gpu=300.0, gpu_indices=(0,))
    expected = f"{_expected_cpu_method()}+{_expected_gpu_method((0,))}"
    assert meters.method == expected
    meters.start()
    reading = meters.stop()
    assert reading.method == expected
    assert "gpu0" in reading.by_device


def test_methods_force_the_models() -> None:
    meters = open_meters(
        watts_per_cpu=5.0,
        gpu_indices=(0, 1),
        methods=("cpu-time-model", "gpu-time-model"),
    )
    assert meters.method == "cpu-time-model+gpu-time-model"
    meters.start()
    burn()
    reading = meters.stop()
    assert reading.cpu_s is not None
    assert reading.by_device["cpu"] == pytest.approx(reading.cpu_s * 5.0)
    assert reading.by_device["gpu0"] == reading.by_device["gpu1"] > 0


def test_open_meters_refuses_unknown_methods_and_bad_fractions() -> None:
    with pytest.raises(ValueError, match="unknown energy meter 'joulemeter'"):
        open_meters(methods=("joulemeter",))
    with pytest.raises(ValueError, match="gpu_fraction"):
        open_meters(gpu_indices=(0,), gpu_fraction=0.0)


def test_gpu_time_model_charges_run_time_watts_and_fraction() -> None:
    half = GpuTimeMeter(200.0, (3,), gpu_fraction=0.5)
    whole = GpuTimeMeter(200.0, (3,))
    half.start()
    time.sleep(0.05)
    whole.start()  # started later and stopped earlier: ran no longer than ``half``
    time.sleep(0.05)
    whole_reading = whole.stop()
    half_reading = half.stop()
    assert whole_reading.method == "gpu-time-model"
    assert whole_reading.by_device["gpu3"] >= 200.0 * 0.05
    # Half the power, over a run at least as long.
    assert whole_reading.joules / 2 <= half_reading.joules


def test_nvml_reads_real_gpus_where_present() -> None:
    count = nvml.gpu_count()
    if count == 0:
        pytest.skip("no NVIDIA GPU or NVML library on this machine")
    meter = nvml.NvmlMeter.open([0])
    assert meter is not None
    meter.start()
    time.sleep(1.0)  # an idle GPU still draws tens of watts
    reading = meter.stop()
    assert reading.method in {"nvml", "nvml-power-samples"}
    assert reading.joules > 0
    assert set(reading.by_device) == {"gpu0"}


def test_nvml_meter_is_not_opened_for_gpus_it_cannot_see() -> None:
    assert nvml.NvmlMeter.open([]) is None
    assert nvml.NvmlMeter.open([nvml.gpu_count() + 7]) is None
