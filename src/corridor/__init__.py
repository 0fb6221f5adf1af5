"""Corridor: self-hosted AI infrastructure in one package."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from corridor.client.client import Client

__all__ = ["Client", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `corridor --help` does not import the HTTP stack.
    if name == "Client":
        from corridor.client.client import Client

        return Client
    raise AttributeError(f"module 'corridor' has no attribute {name!r}")
