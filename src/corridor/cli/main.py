"""The `corridor` command: global options, sub-command groups and the one error policy.

Errors print one line and exit 1 (usage errors exit 2, as Click does); ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import sys

import typer

from corridor.cli import admin, setup
from corridor.console import fail
from corridor.errors import CorridorError
from corridor.slices import SLICES, load_callable

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
# Each slice's command groups, from the slice table (slice CLI modules import their heavy parts
# inside commands, so that `corridor --help` loads neither the server nor httpx).
for _slice in SLICES:
    if _slice.cli is not None:
        load_callable(_slice.cli, what=f"slice {_slice.name!r}'s command groups")(app)


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
