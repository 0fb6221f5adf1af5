from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from corridor.compute.energy.nvml import gpu_count
from corridor.compute.sansio.resources import Resources
from corridor.compute.sites import load_sites
from corridor.config import Settings
from corridor.errors import ConfigurationError

GIB = 1 << 30
T0 = datetime(2026, 5, 1, tzinfo=UTC).timestamp()
HOUR = 3600.0
RAY = 'executor = "ray"\naddress = "h:1"\n'

CARBON_CSV = """timestamp,value
2026-05-01T00:00:00Z,300
2026-05-01T01:00:00Z,100
2026-05-01T02:00:00+00:00,200
"""

FULL = """
[sites.laptop]
executor = "local"
region = "eu-west"
memory = "16G"
pue = 1.1
carbon_intensity = 250
energy_price = 0.30
watts_per_cpu = 12.0

[sites.gpu-eu]
executor = "ray"
address = "127.0.0.1:6380"
auth_token_file = "secrets/ray-token"
region = "eu-north"
cpus = 32
memory = 274877906944
gpus = 4
gpu_types = ["A100"]
resources = { site_gpu_eu = 1 }
carbon_intensity_file = "traces/carbon.csv"
energy_price_file = "/abs/never-read.csv"
pue = 1.15
cost_per_hour = 12.0
watts_per_gpu = 300.0
allow_unauthenticated = false
"""


def _home(home: Path, toml: str, files: dict[str, str] | None = None) -> Settings:
    settings = Settings(home=home)
    (home / "corridor.toml").write_text(toml)
    for name, text in (files or {}).items():
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return settings


def test_no_sites_declared_gives_one_local_site_sized_from_this_machine(home: Path) -> None:
    sites = load_sites(Settings(home=home))
    assert list(sites) == ["local"]
    local = sites["local"]
    assert local.executor == "local"
    assert local.capacity() == Resources(
        cpus=float(len(os.sched_getaffinity(0))),
        memory_bytes=psutil.virtual_memory().total,
        gpus=float(gpu_count()),
    )


def test_a_site_that_declares_no_carbon_intensity_gets_the_world_average(home: Path) -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC).timestamp()
    undeclared = load_sites(Settings(home=home))["local"].view(now, Resources(cpus=0))
    assert undeclared.carbon_g_per_kwh == 475.0
    assert undeclared.price_per_kwh == 0.0
    settings = _home(home, '[sites.green]\nexecutor = "local"\ncarbon_intensity = 20\n')
    assert load_sites(settings)["green"].view(now, Resources(cpus=0)).carbon_g_per_kwh == 20.0


def test_a_full_config_is_read_with_files_relative_to_the_home(home: Path) -> None:
    toml = FULL.replace("/abs/never-read.csv", str(home / "price.csv"))
    files = {
        "traces/carbon.csv": CARBON_CSV,
        "price.csv": "timestamp,value\n2026-05-01T00:00:00,0.25\n",
    }
    settings = _home(home, toml, files)
    sites = load_sites(settings)
    assert list(sites) == ["laptop", "gpu-eu"]
    laptop, gpu = sites["laptop"], sites["gpu-eu"]
    # Omitted capacity of a local site comes from the machine; declared parts are kept.
    assert laptop.capacity() == Resources(
        cpus=float(len(os.sched_getaffinity(0))), memory_bytes=16 * GIB, gpus=float(gpu_count())
    )
    assert (laptop.region, laptop.pue, laptop.watts_per_cpu) == ("eu-west", 1.1, 12.0)
    assert gpu.address == "127.0.0.1:6380"
    assert gpu.auth_token_file == home / "secrets" / "ray-token"
    assert gpu.capacity() == Resources(cpus=32.0, memory_bytes=256 * GIB, gpus=4.0)
    assert gpu.gpu_types == frozenset({"A100"})
    assert dict(gpu.resources) == {"site_gpu_eu": 1.0}
    assert gpu.carbon_intensity.path == home / "traces" / "carbon.csv"

    view = gpu.view(T0 + 1.5 * HOUR, Resources(cpus=30, memory_bytes=0, gpus=1))
    assert view.carbon_g_per_kwh == 100.0
    assert view.price_per_kwh == 0.25
    assert view.free == Resources(cpus=2.0, memory_bytes=256 * GIB, gpus=3.0)
    assert view.carbon_forecast is not None
    assert view.carbon_forecast.mean_over(T0, T0 + 2 * HOUR) == 200.0
    assert (view.pue, view.cost_per_hour, view.watts_per_gpu) == (1.15, 12.0, 300.0)
    # A static intensity has no forecast to shift jobs by.
    assert laptop.view(T0, Resources()).carbon_forecast is None
    assert laptop.view(T0, Resources()).carbon_g_per_kwh == 250.0


def test_a_file_that_does_not_cover_now_uses_its_nearest_value_with_a_note(home: Path) -> None:
    settings = _home(home, '[sites.a]\ncarbon_intensity_file = "c.csv"\n', {"c.csv": CARBON_CSV})
    site = load_sites(settings)["a"]
    assert site.notes(T0 + 2.5 * HOUR) == ()
    later = T0 + 30 * HOUR
    assert site.view(later, Resources()).carbon_g_per_kwh == 200.0
    (note,) = site.notes(later)
    assert "covers 2026-05-01T00:00:00Z to 2026-05-01T03:00:00Z" in note
    assert "using its last value, 200" in note
    assert str(home / "c.csv") in note
    (early,) = site.notes(T0 - 1)
    assert "using its first value, 300" in early


def test_reading_a_file_that_has_run_out_logs_its_note(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    past = "timestamp,value\n2020-01-01T00:00:00Z,300\n2020-01-01T01:00:00Z,200\n"
    settings = _home(home, '[sites.a]\ncarbon_intensity_file = "c.csv"\n', {"c.csv": past})
    with caplog.at_level(logging.WARNING, logger="corridor.compute"):
        load_sites(settings)
    (record,) = [r for r in caplog.records if r.name == "corridor.compute"]
    assert record.getMessage().startswith("site a: carbon intensity file ")
    assert "using its last value, 200" in record.getMessage()


def test_discovered_capacity_fills_what_a_ray_site_omits(home: Path) -> None:
    settings = _home(home, '[sites.r]\nexecutor = "ray"\naddress = "h:1"\ngpus = 2\n')
    site = load_sites(settings)["r"]
    assert site.capacity() == Resources(cpus=0.0, memory_bytes=0, gpus=2.0)
    found = Resources(cpus=8, memory_bytes=GIB, gpus=1)
    assert site.capacity(found) == Resources(cpus=8.0, memory_bytes=GIB, gpus=2.0)
    assert site.view(T0, Resources(cpus=9), discovered=found).free.cpus == 0.0


def test_ray_sites_take_the_default_address(home: Path) -> None:
    (home / "corridor.toml").write_text('[sites.r]\nexecutor = "ray"\n')
    settings = Settings(home=home, ray_address="10.0.0.5:6380")
    assert load_sites(settings)["r"].address == "10.0.0.5:6380"


def test_ray_sites_on_different_clusters_are_refused(home: Path) -> None:
    settings = _home(
        home,
        '[sites.a]\nexecutor = "ray"\naddress = "h1:6380"\n'
        '[sites.b]\nexecutor = "ray"\naddress = "h2:6380"\n'
        '[sites.c]\nexecutor = "ray"\naddress = "h1:6380"\n',
    )
    with pytest.raises(ConfigurationError, match="Ray sites name different addresses") as info:
        load_sites(settings)
    assert "h1:6380" in info.value.message
    assert "h2:6380" in info.value.message
    assert "same address" in info.value.message


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ("cpu = 4", "cpu", "unknown key"),
        ('cpus = "four"', "cpus", "must be a number"),
        ("cpus = 0", "cpus", "more than 0"),
        ("cpus = -1", "cpus", "0 or more"),
        ("gpus = nan", "gpus", "finite number"),
        ("pue = 0.9", "pue", "1 or more"),
        ('memory = "lots"', "memory", "is not a size"),
        ("memory = true", "memory", "must be a size"),
        ('executor = "slurm"', "executor", "'local' or 'ray'"),
        ('gpu_types = "A100"', "gpu_types", "list of GPU model names"),
        (f"{RAY}resources = {{ x = -1 }}", "resources", "x must be a number above 0"),
        ('region = ""', "region", "non-empty string"),
        (f"{RAY}allow_unauthenticated = 1", "allow_unauthenticated", "true or false"),
        ('address = "h:1"', "address", "only to sites with executor = 'ray'"),
        ('executor = "ray"', "address", "needs an address"),
        (
            'carbon_intensity = 3\ncarbon_intensity_file = "c.csv"',
            "carbon_intensity_file",
            "not both",
        ),
        ('energy_price_file = "absent.csv"', "energy_price_file", "cannot read"),
    ],
)
def test_malformed_site_config_names_the_file_site_and_key(
    home: Path, body: str, key: str, problem: str
) -> None:
    settings = _home(home, f"[sites.s1]\n{body}\n")
    with pytest.raises(ConfigurationError) as info:
        load_sites(settings)
    message = info.value.message
    assert message.startswith(f"{home / 'corridor.toml'}: [sites.s1] {key}: ")
    assert problem in message


@pytest.mark.parametrize(
    ("csv", "problem"),
    [
        ("time,carbon\n2026-05-01T00:00:00Z,1\n", "line 1 must be the header 'timestamp,value'"),
        ("", "line 1 must be the header"),
        ("timestamp,value\n", "has a header but no rows"),
        ("timestamp,value\n2026-05-01T00:00:00Z,1\nyesterday,2\n", "line 3: 'yesterday' is not"),
        ("timestamp,value\n2026-05-01T00:00:00Z,one\n", "line 2: value 'one' is not a number"),
        ("timestamp,value\n2026-05-01T00:00:00Z,-4\n", "line 2: value '-4' must be"),
        ("timestamp,value\n2026-05-01T00:00:00Z,1,2\n", "line 2: expected 2 fields, found 3"),
        (
            "timestamp,value\n2026-05-01T01:00:00Z,1\n2026-05-01T02:00:00+02:00,1\n",
            "line 3: timestamp 2026-05-01T02:00:00+02:00 is not after",
        ),
    ],
)
def test_malformed_hourly_files_name_the_line(home: Path, csv: str, problem: str) -> None:
    settings = _home(home, '[sites.s1]\ncarbon_intensity_file = "c.csv"\n')
    (home / "c.csv").write_text(csv)
    with pytest.raises(ConfigurationError) as info:
        load_sites(settings)
    message = info.value.message
    assert message.startswith(f"{home / 'corridor.toml'}: [sites.s1] carbon_intensity_file: ")
    assert str(home / "c.csv") in message
    assert problem in message


def test_bad_tables_and_names_are_refused(home: Path) -> None:
    settings = _home(home, 'sites = "everywhere"\n')
    with pytest.raises(ConfigurationError, match="'sites' must be tables"):
        load_sites(settings)
    (home / "corridor.toml").write_text("[sites]\nlocal = 3\n")
    with pytest.raises(ConfigurationError, match=r"sites\.local must be a table"):
        load_sites(settings)
    (home / "corridor.toml").write_text('[sites."a b"]\ncpus = 1\n')
    with pytest.raises(ConfigurationError, match=r"\[sites\.a b\]: site name 'a b' is invalid"):
        load_sites(settings)
    (home / "corridor.toml").write_text("[sites.a\n")
    with pytest.raises(ConfigurationError, match="is not valid TOML"):
        load_sites(settings)
