"""The pipelines commands: `corridor run PIPELINE.py` (`run_command`, with the live tree view of
`view`) and `corridor pipelines ...` (`commands`; schedules and triggers in `automation`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add `corridor run` and `corridor pipelines ...` to ``app``."""
    from corridor.pipelines.cli import automation  # noqa: F401  (adds its commands to the group)
    from corridor.pipelines.cli.commands import pipelines
    from corridor.pipelines.cli.run_command import run

    app.command("run")(run)
    app.add_typer(pipelines, name="pipelines")
