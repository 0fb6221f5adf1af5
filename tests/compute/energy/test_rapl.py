"""RAPL against a powercap tree written in tmp (the kernel's file format), and the real one
where this machine lets the process read it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corridor.compute.energy.rapl import POWERCAP, RaplMeter, find_zones, machine_busy_s
from tests.compute.energy.conftest import burn

RANGE_UJ = 1_000_000_000
TICK = os.sysconf("SC_CLK_TCK")


def _zone(root: Path, name: str, label: str, energy_uj: int) -> None:
    path = root / name
    path.mkdir()
    (path / "name").write_text(label + "\n")
    (path / "max_energy_range_uj").write_text(f"{RANGE_UJ}\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")


def _set(root: Path, name: str, energy_uj: int) -> None:
    (root / name / "energy_uj").write_text(f"{energy_uj}\n")


def _stat(path: Path, busy_s: float, idle_s: float = 1000.0) -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice, in clock ticks
    user = round(busy_s * TICK)
    idle = round(idle_s * TICK)
    path.write_text(f"cpu  {user} 0 0 {idle} 7 0 0 0 0 0\ncpu0 {user} 0 0 {idle} 7 0 0 0 0 0\n")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "powercap"
    root.mkdir()
    _zone(root, "intel-rapl:0", "package-0", 900_000_000)
    _zone(root, "intel-rapl:0:0", "core", 1)  # inside the package: not counted again
    _zone(root, "intel-rapl:0:1", "dram", 5_000_000)
    _zone(root, "intel-rapl:1", "psys", 7)  # the whole platform: overlaps the package
    _zone(root, "intel-rapl-mmio:0", "package-0", 9)  # the same package through MMIO
    (root / "intel-rapl:2").mkdir()  # no files: not a counter
    return root


class Clock:
    """A job's CPU seconds, set by the test."""

    def __init__(self) -> None:
        self.cpu_s = 10.0

    def __call__(self) -> float:
        return self.cpu_s


def test_find_zones_takes_packages_and_dram_only(tree: Path) -> None:
    assert [(z.device, z.energy_file.parent.name) for z in find_zones(tree)] == [
        ("package-0", "intel-rapl:0"),
        ("dram-0", "intel-rapl:0:1"),
    ]


def test_machine_busy_s_sums_busy_fields_not_idle(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 20 30 5000 40 5 6 7 0 0\n")
    assert machine_busy_s(stat) == pytest.approx((100 + 20 + 30 + 5 + 6 + 7) / TICK)
    stat.write_text("intr 1 2 3\n")
    with pytest.raises(ValueError, match="'cpu' line"):
        machine_busy_s(stat)


def test_job_gets_its_cpu_share_of_package_energy_across_a_wrap(tree: Path, tmp_path: Path) -> None:
    stat, clock = tmp_path / "stat", Clock()
    _stat(stat, busy_s=50.0)
    meter = RaplMeter(find_zones(tree), cpu_clock=clock, proc_stat=stat, sample_interval_s=3600)
    meter.start()
    _set(tree, "intel-rapl:0", 100_000_000)  # wrapped: 100 J to the top, 100 J after = 200 J
    _set(tree, "intel-rapl:0:1", 15_000_000)  # 10 J
    _stat(stat, busy_s=54.0)  # the machine was busy 4 CPU seconds...
    clock.cpu_s = 11.0  # ...of which the job's were 1: a quarter
    reading = meter.stop()
    assert reading.method == "rapl"
    assert dict(reading.by_device) == pytest.approx({"package-0": 50.0, "dram-0": 2.5})
    assert reading.joules == pytest.approx(52.5)
    assert reading.cpu_s == pytest.approx(1.0)


def test_each_sample_shares_its_own_interval_and_counts_every_wrap(
    tree: Path, tmp_path: Path
) -> None:
    stat, clock = tmp_path / "stat", Clock()
    _stat(stat, busy_s=0.0)
    meter = RaplMeter(find_zones(tree), cpu_clock=clock, proc_stat=stat, sample_interval_s=3600)
    meter.start()
    # Interval 1: package wraps (+200 J); the job was all of the busy time.
    _set(tree, "intel-rapl:0", 100_000_000)
    _stat(stat, busy_s=2.0)
    clock.cpu_s = 12.0
    meter.sample()
    # Interval 2: package wraps again (+1000 J - 100 J + 50 J = 950 J); the job was idle.
    _set(tree, "intel-rapl:0", 50_000_000)
    _stat(stat, busy_s=10.0)
    meter.sample()
    # Interval 3: +10 J while the job used half the machine's busy time.
    _set(tree, "intel-rapl:0", 60_000_000)
    _stat(stat, busy_s=12.0)
    clock.cpu_s = 13.0
    reading = meter.stop()
    assert reading.by_device["package-0"] == pytest.approx(200.0 + 0.0 + 5.0)
    assert reading.by_device["dram-0"] == 0.0
    assert reading.cpu_s == pytest.approx(3.0)


def test_share_is_capped_at_the_whole_package(tree: Path, tmp_path: Path) -> None:
    # Clock ticks round the machine's figure down; the job is never charged more than all of it.
    stat, clock = tmp_path / "stat", Clock()
    _stat(stat, busy_s=1.0)
    meter = RaplMeter(find_zones(tree), cpu_clock=clock, proc_stat=stat, sample_interval_s=3600)
    meter.start()
    _set(tree, "intel-rapl:0", 910_000_000)
    _stat(stat, busy_s=2.0)
    clock.cpu_s = 13.0
    assert meter.stop().by_device["package-0"] == pytest.approx(10.0)


def test_probe_finds_nothing_without_powercap_or_proc_stat(tree: Path, tmp_path: Path) -> None:
    assert RaplMeter.probe(tmp_path / "absent", tmp_path / "stat-absent") == []
    assert RaplMeter.probe(tmp_path / "absent") == []
    with pytest.raises(ValueError, match="at least one readable zone"):
        RaplMeter([])


def test_real_rapl_measures_a_busy_child_where_readable() -> None:
    zones = RaplMeter.probe()
    if not zones:
        pytest.skip(f"no readable RAPL counters under {POWERCAP} on this machine")
    meter = RaplMeter(zones)
    meter.start()
    burn()
    reading = meter.stop()
    assert reading.method == "rapl"
    assert reading.joules > 0
    assert reading.cpu_s is not None
    assert reading.cpu_s > 0
