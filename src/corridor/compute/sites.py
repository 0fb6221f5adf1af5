"""Sites: where jobs can run, read from the ``[sites.NAME]`` tables of ``corridor.toml``.

A site is a local process pool or a Ray cluster, with a region, a capacity, GPU types, an energy
price, a carbon intensity (static, or an hourly file whose future rows are the forecast), a PUE
and an hourly cost. With no site declared there is one, ``local``, sized from this machine.

The whole table is checked when it is read, and a mistake is a `ConfigurationError` naming the
file, the site and the key: a typo in a key must not silently fall back to a default, and a
carbon file that cannot be read must stop the server rather than make every job look free of
carbon. Ray sites must all name one address, because a process can join only one Ray cluster;
sites on that cluster are told apart by custom resources or labels.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from corridor.compute.energy.registry import DEFAULT_WATTS_PER_CPU, DEFAULT_WATTS_PER_GPU
from corridor.compute.hourly_files import TraceFileError, read_hourly_csv
from corridor.compute.sansio.resources import Resources
from corridor.compute.sansio.traces import HourlyTrace
from corridor.compute.sansio.units import parse_memory
from corridor.compute.sansio.views import SiteView, iso
from corridor.config import CONFIG_FILE_NAME, Settings, read_config_file
from corridor.errors import ConfigurationError, InvalidInput
from corridor.names import check_name

Executor = Literal["local", "ray"]
EXECUTORS: tuple[Executor, ...] = ("local", "ray")
DEFAULT_SITE = "local"
DEFAULT_REGION = "local"
# The world's average grid intensity (gCO2e/kWh, IEA), for a site that declares none: its jobs
# then show a plausible carbon figure rather than none; declare the local grid's figure instead.
DEFAULT_CARBON_G_PER_KWH = 475.0
HOUR_S = 3600.0

KEYS = (
    "executor",
    "address",
    "region",
    "cpus",
    "memory",
    "gpus",
    "gpu_types",
    "resources",
    "energy_price",
    "energy_price_file",
    "carbon_intensity",
    "carbon_intensity_file",
    "pue",
    "cost_per_hour",
    "watts_per_cpu",
    "watts_per_gpu",
    "allow_unauthenticated",
    "auth_token_file",
    "standby_workers",
    "preload",
)
_RAY_ONLY = ("address", "resources", "allow_unauthenticated", "auth_token_file")
_LOCAL_ONLY = ("standby_workers", "preload")
# A dotted module name, as `import` takes it.
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
MAX_STANDBY_WORKERS = 64
log = logging.getLogger("corridor.compute")


@dataclass(frozen=True)
class SeriesSource:
    """Where an hourly series came from: a static value, or a file (and its trace)."""

    trace: HourlyTrace
    path: Path | None = None

    @property
    def is_file(self) -> bool:
        return self.path is not None

    def note_at(self, now: float, what: str) -> str | None:
        """A note when ``now`` is outside the file's rows (the nearest row's value is used)."""
        if self.path is None:
            return None
        start, end = self.trace.start_s, self.trace.end_s + HOUR_S
        if start <= now < end:
            return None
        nearest = "first" if now < start else "last"
        return (
            f"{what} file {self.path} covers {iso(start)} to {iso(end)}, not {iso(now)}; "
            f"using its {nearest} value, {self.trace.value_at(now):g}"
        )


@dataclass(frozen=True)
class Site:
    """One site as configured. ``cpus``/``memory_bytes``/``gpus`` None: discovered from the
    executor (a local site's are filled from this machine when the config is read)."""

    name: str
    executor: Executor = "local"
    address: str | None = None
    region: str = DEFAULT_REGION
    cpus: float | None = None
    memory_bytes: int | None = None
    gpus: float | None = None
    gpu_types: frozenset[str] = frozenset()
    resources: Mapping[str, float] = field(default_factory=dict, hash=False)
    energy_price: SeriesSource = field(default_factory=lambda: SeriesSource(HourlyTrace([(0, 0)])))
    carbon_intensity: SeriesSource = field(
        default_factory=lambda: SeriesSource(HourlyTrace.constant(DEFAULT_CARBON_G_PER_KWH))
    )
    pue: float = 1.0
    cost_per_hour: float = 0.0
    watts_per_cpu: float = DEFAULT_WATTS_PER_CPU
    watts_per_gpu: float = DEFAULT_WATTS_PER_GPU
    allow_unauthenticated: bool = False
    auth_token_file: Path | None = None
    # Local sites: workers kept started ahead, and what their function interpreters import
    # while they wait (``["torch"]`` takes the import off the path from submit to first step).
    standby_workers: int = 1
    preload: tuple[str, ...] = ()

    def capacity(self, discovered: Resources | None = None) -> Resources:
        """The declared capacity, each omitted part taken from ``discovered`` (else 0)."""
        found = discovered or Resources(cpus=0.0, memory_bytes=0, gpus=0.0)
        return Resources(
            cpus=found.cpus if self.cpus is None else self.cpus,
            memory_bytes=found.memory_bytes if self.memory_bytes is None else self.memory_bytes,
            gpus=found.gpus if self.gpus is None else self.gpus,
        )

    def view(
        self,
        now: float,
        used: Resources,
        *,
        discovered: Resources | None = None,
        up: bool = True,
        releases: tuple[tuple[float, Resources], ...] = (),
    ) -> SiteView:
        """The site as the scheduler sees it at ``now`` (epoch s), with ``used`` held by placed
        and running attempts."""
        capacity = self.capacity(discovered)
        return SiteView(
            name=self.name,
            region=self.region,
            capacity=capacity,
            free=(capacity - used).clamped(),
            gpu_types=self.gpu_types,
            price_per_kwh=self.energy_price.trace.value_at(now),
            carbon_g_per_kwh=self.carbon_intensity.trace.value_at(now),
            pue=self.pue,
            cost_per_hour=self.cost_per_hour,
            watts_per_cpu=self.watts_per_cpu,
            watts_per_gpu=self.watts_per_gpu,
            carbon_forecast=self.carbon_intensity.trace if self.carbon_intensity.is_file else None,
            up=up,
            releases=releases,
        )

    def notes(self, now: float) -> tuple[str, ...]:
        """What a person should know about the figures at ``now`` (files that do not cover it)."""
        found = (
            self.carbon_intensity.note_at(now, "carbon intensity"),
            self.energy_price.note_at(now, "energy price"),
        )
        return tuple(n for n in found if n is not None)


def load_sites(settings: Settings) -> dict[str, Site]:
    """The sites of ``settings.home``'s corridor.toml, or the one ``local`` site."""
    path = settings.home / CONFIG_FILE_NAME
    table = _sites_table(path)
    if not table:
        return {DEFAULT_SITE: default_site()}
    default_address = settings.ray_address
    sites = {
        name: _parse_site(path, settings.home, name, raw, default_address)
        for name, raw in table.items()
    }
    _check_one_ray_cluster(path, sites)
    # Said once per reading of the file: a trace that has run out is worth a warning, not an
    # error (its nearest value still holds), and `Site.notes` repeats it to whoever asks.
    now = time.time()
    for site in sites.values():
        for note in site.notes(now):
            log.warning("site %s: %s", site.name, note)
    return {name: _sized(site) for name, site in sites.items()}


def default_site() -> Site:
    """The site used when none is declared: a process pool the size of this machine."""
    from corridor.compute.machine import machine_resources

    size, gpu_names = machine_resources()
    return Site(
        name=DEFAULT_SITE,
        cpus=size.cpus,
        memory_bytes=size.memory_bytes,
        gpus=size.gpus,
        gpu_types=frozenset(gpu_names),
    )


def _sized(site: Site) -> Site:
    """A local site with every omitted capacity part filled from this machine."""
    if site.executor != "local" or None not in (site.cpus, site.memory_bytes, site.gpus):
        return site
    from dataclasses import replace

    from corridor.compute.machine import machine_resources

    size, names = machine_resources()
    capacity = site.capacity(size)
    return replace(
        site,
        cpus=capacity.cpus,
        memory_bytes=capacity.memory_bytes,
        gpus=capacity.gpus,
        gpu_types=site.gpu_types or frozenset(names),
    )


def _sites_table(path: Path) -> dict[str, Any]:
    table = read_config_file(path).get("sites", {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: 'sites' must be tables such as [sites.local]")
    return table


class _Reader:
    """Reads one ``[sites.NAME]`` table, naming the file, site and key in every error."""

    def __init__(self, path: Path, name: str, raw: dict[str, Any]) -> None:
        self.path, self.name, self.raw = path, name, raw

    def fail(self, key: str, problem: str) -> ConfigurationError:
        return ConfigurationError(f"{self.path}: [sites.{self.name}] {key}: {problem}")

    def text(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, not {value!r}")
        return value.strip()

    def number(self, key: str, *, minimum: float = 0.0) -> float | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, not {value!r}")
        if not math.isfinite(value) or value < minimum:
            raise self.fail(key, f"must be a finite number of {minimum:g} or more, not {value!r}")
        return float(value)

    def flag(self, key: str) -> bool:
        value = self.raw.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value


def _parse_site(
    path: Path, home: Path, name: str, raw: object, default_address: str | None
) -> Site:
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path}: sites.{name} must be a table, [sites.{name}]")
    try:
        check_name("site", name)
    except InvalidInput as exc:
        raise ConfigurationError(f"{path}: [sites.{name}]: {exc.message}") from None
    r = _Reader(path, name, raw)
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise r.fail(unknown[0], f"unknown key; the keys a site takes are {', '.join(KEYS)}")
    executor = r.text("executor") or "local"
    if executor not in EXECUTORS:
        raise r.fail("executor", f"must be 'local' or 'ray', not {executor!r}")
    if executor == "local":
        given = [k for k in _RAY_ONLY if k in raw]
        if given:
            raise r.fail(given[0], "applies only to sites with executor = 'ray'")
    else:
        given = [k for k in _LOCAL_ONLY if k in raw]
        if given:
            raise r.fail(given[0], "applies only to sites with executor = 'local'")
    address = r.text("address")
    if executor == "ray" and address is None:
        if not default_address:
            raise r.fail("address", "a Ray site needs an address, or set CORRIDOR_RAY_ADDRESS")
        address = default_address
    for static, file in (
        ("energy_price", "energy_price_file"),
        ("carbon_intensity", "carbon_intensity_file"),
    ):
        if static in raw and file in raw:
            raise r.fail(file, f"give {static} or {file}, not both")
    return Site(
        name=name,
        executor="ray" if executor == "ray" else "local",
        address=address,
        region=r.text("region") or DEFAULT_REGION,
        cpus=_positive_or_none(r, "cpus"),
        memory_bytes=_memory(r),
        gpus=r.number("gpus"),
        gpu_types=_gpu_types(r),
        resources=_custom_resources(r),
        energy_price=_series(r, home, "energy_price", 0.0),
        carbon_intensity=_series(r, home, "carbon_intensity", DEFAULT_CARBON_G_PER_KWH),
        pue=_default(r.number("pue", minimum=1.0), 1.0),
        cost_per_hour=_default(r.number("cost_per_hour"), 0.0),
        watts_per_cpu=_default(r.number("watts_per_cpu"), DEFAULT_WATTS_PER_CPU),
        watts_per_gpu=_default(r.number("watts_per_gpu"), DEFAULT_WATTS_PER_GPU),
        allow_unauthenticated=r.flag("allow_unauthenticated"),
        auth_token_file=_file(r, home, "auth_token_file"),
        standby_workers=_standby_workers(r),
        preload=_preload(r),
    )


def _default(value: float | None, default: float) -> float:
    return default if value is None else value


def _positive_or_none(r: _Reader, key: str) -> float | None:
    value = r.number(key)
    if value == 0:
        raise r.fail(key, "must be more than 0 (omit it to use what the executor reports)")
    return value


def _memory(r: _Reader) -> int | None:
    value = r.raw.get("memory")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise r.fail("memory", f"must be a size such as '64G' or a number of bytes, not {value!r}")
    try:
        return parse_memory(value)
    except InvalidInput as exc:
        raise r.fail("memory", exc.message) from None


def _standby_workers(r: _Reader) -> int:
    value = r.raw.get("standby_workers", 1)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 <= value <= MAX_STANDBY_WORKERS
    ):
        raise r.fail(
            "standby_workers",
            f"must be a whole number from 0 to {MAX_STANDBY_WORKERS}, not {value!r}",
        )
    return value


def _preload(r: _Reader) -> tuple[str, ...]:
    value = r.raw.get("preload", [])
    if not isinstance(value, list) or not all(
        isinstance(v, str) and _MODULE_NAME.fullmatch(v) for v in value
    ):
        raise r.fail("preload", f'must be a list of module names such as ["torch"], not {value!r}')
    return tuple(value)


def _gpu_types(r: _Reader) -> frozenset[str]:
    value = r.raw.get("gpu_types", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise r.fail("gpu_types", f"must be a list of GPU model names, not {value!r}")
    return frozenset(v.strip() for v in value)


def _custom_resources(r: _Reader) -> dict[str, float]:
    value = r.raw.get("resources", {})
    if not isinstance(value, dict):
        raise r.fail("resources", f"must be a table such as {{ site_eu = 1 }}, not {value!r}")
    out = {}
    for key, amount in value.items():
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise r.fail("resources", f"{key} must be a number, not {amount!r}")
        if not math.isfinite(amount) or amount <= 0:
            raise r.fail("resources", f"{key} must be a number above 0, not {amount!r}")
        out[key] = float(amount)
    return out


def _file(r: _Reader, home: Path, key: str) -> Path | None:
    text = r.text(key)
    if text is None:
        return None
    path = Path(text).expanduser()
    return path if path.is_absolute() else home / path


def _series(r: _Reader, home: Path, key: str, default: float) -> SeriesSource:
    path = _file(r, home, f"{key}_file")
    if path is None:
        return SeriesSource(HourlyTrace.constant(_default(r.number(key), default)))
    try:
        return SeriesSource(read_hourly_csv(path), path)
    except TraceFileError as exc:
        raise r.fail(f"{key}_file", str(exc)) from None


def _check_one_ray_cluster(path: Path, sites: Mapping[str, Site]) -> None:
    addresses = {s.address: s.name for s in sites.values() if s.executor == "ray"}
    if len(addresses) > 1:
        listed = ", ".join(f"{name} at {address}" for address, name in sorted(addresses.items()))
        raise ConfigurationError(
            f"{path}: Ray sites name different addresses ({listed}); a server joins one Ray "
            "cluster: give every Ray site the same address and tell the sites apart with "
            "`resources` (custom resources on each site's nodes)"
        )
