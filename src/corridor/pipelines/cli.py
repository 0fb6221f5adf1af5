"""`corridor run` and `corridor pipelines ...`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the pipelines commands to ``app``."""
