"""The site table a server process shares: read from corridor.toml once per change of the file,
what the scheduler loop last learnt of each site's executor, and the URL workers call back.
"""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from corridor.compute.sansio.resources import Resources
from corridor.config import CONFIG_FILE_NAME, Settings

if TYPE_CHECKING:
    from corridor.compute.sites import Site


_sites_lock = threading.Lock()
_sites_cache: dict[Path, tuple[float, dict[str, Site]]] = {}


def current_sites(settings: Settings) -> dict[str, Site]:
    """The sites of ``settings``' home, re-read when its corridor.toml changes."""
    from corridor.compute.sites import load_sites

    path = settings.home / CONFIG_FILE_NAME
    try:
        stamp = path.stat().st_mtime
    except OSError:
        stamp = -1.0
    with _sites_lock:
        cached = _sites_cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    sites = load_sites(settings)
    with _sites_lock:
        _sites_cache[path] = (stamp, sites)
    return sites


def note_site_state(settings: Settings, name: str, up: bool, discovered: Resources | None) -> None:
    _site_state[(settings.home, name)] = (up, discovered)


# What the loop last learnt of each site's executor (up, discovered capacity), by home and
# site name, for the sites listing of the same process.
_site_state: dict[tuple[Path, str], tuple[bool, Resources | None]] = {}


def site_state(settings: Settings, name: str) -> tuple[bool, Resources | None]:
    """Whether the loop could reach the site's executor, and the capacity it discovered."""
    return _site_state.get((settings.home, name), (True, None))


def advertised_url(settings: Settings) -> str:
    """The URL workers call back: ``advertise_url``, else where the server listens."""
    if settings.advertise_url:
        return settings.advertise_url.rstrip("/")
    host = settings.host
    try:
        if ipaddress.ip_address(host).is_unspecified:
            host = "127.0.0.1"  # bound to every address: this machine's workers use loopback
    except ValueError:
        pass  # a host name
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"
