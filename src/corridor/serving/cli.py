"""The serving commands (a stub until they land)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the serving commands to ``app``."""
