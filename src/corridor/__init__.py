"""Corridor: self-hosted AI infrastructure in one package."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from corridor.client.client import Client
    from corridor.tracking.fluent import (
        ActiveRun,
        active_run,
        end_run,
        log_artifact,
        log_artifacts,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        set_tag,
        set_tags,
        start_run,
    )

__all__ = ["Client", "__version__"]
# The tracking SDK (corridor.tracking.fluent), imported on first use.
__all__ += [
    "ActiveRun",
    "active_run",
    "end_run",
    "log_artifact",
    "log_artifacts",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_tag",
    "set_tags",
    "start_run",
]
_TRACKING = frozenset(__all__) - {"Client", "__version__"}


def __getattr__(name: str) -> Any:
    # Lazy, so that `corridor --help` does not import the HTTP stack.
    if name == "Client":
        from corridor.client.client import Client

        return Client
    if name == "data":
        import corridor.data

        return corridor.data
    if name in _TRACKING:
        from corridor.tracking import fluent

        return getattr(fluent, name)
    raise AttributeError(f"module 'corridor' has no attribute {name!r}")
