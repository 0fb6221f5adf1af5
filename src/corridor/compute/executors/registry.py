"""The one table of executor backends, by the name a site's ``executor`` key gives.

Backends are named by import path so that a server whose sites are all local never imports Ray.
The caller (the scheduler loop) opens one executor per site and keeps it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol, cast

from corridor.compute.executors.base import Executor
from corridor.errors import ConfigurationError

if TYPE_CHECKING:
    from corridor.compute.sites import Site
    from corridor.config import Settings

EXECUTORS: dict[str, str] = {
    "local": "corridor.compute.executors.local:LocalExecutor",
    "ray": "corridor.compute.executors.ray:RayExecutor",
}


class ExecutorFactory(Protocol):
    """What every class in ``EXECUTORS`` offers: build itself from a site's config."""

    def from_site(self, site: Site, settings: Settings) -> Executor: ...


def open_executor(site: Site, settings: Settings) -> Executor:
    """Open the backend that ``site.executor`` names, for that site."""
    path = EXECUTORS.get(site.executor)
    if path is None:
        known = ", ".join(sorted(EXECUTORS))
        raise ConfigurationError(
            f"site {site.name!r}: executor {site.executor!r} is not one of {known}"
        )
    module_name, _, attribute = path.partition(":")
    factory = cast(ExecutorFactory, getattr(importlib.import_module(module_name), attribute))
    return factory.from_site(site, settings)
