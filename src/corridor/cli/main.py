"""The `corridor` command: global options, sub-command groups and the one error policy.

Errors print one line and exit 1 (usage errors exit 2, as Click does); ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import sys

import typer

from corridor.cli import admin, setup
from corridor.console import fail
from corridor.data import cli as data_cli
from corridor.errors import CorridorError
from corridor.registry import cli as registry_cli
from corridor.tracking import cli as tracking_cli

app = typer.Typer(
    name="corridor",
    help="Corridor: data, pipelines, compute, tracking, registry and serving, self-hosted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_debug = False


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    global _debug
    _debug = debug


setup.register(app)
admin.register(app)
tracking_cli.register(app)
registry_cli.register(app)
data_cli.register(app)


def run() -> None:
    """Entry point of the `corridor` script."""
    try:
        app()
    except CorridorError as exc:
        if _debug:
            raise
        fail(exc.message)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if _debug:
            raise
        fail(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")
        sys.exit(1)
