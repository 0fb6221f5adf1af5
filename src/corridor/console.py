"""How commands print: tables for people, JSON for programs, one line for errors.

It sits outside `corridor.cli` because each slice's command group prints the same way, and the
`cli` package imports those groups: a slice importing `cli` back would be a cycle.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(_plain(value), indent=2, default=str) + "\n")


WIDE_TABLE_COLUMNS = 200
"""The width of a table whose output is not a terminal: a pipe has no width to fit, and a wide
table squeezed into 80 columns wraps every cell."""


def print_rows(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table of ``rows`` (one value per column; None prints empty) on standard output."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console = Console()
    if not console.is_terminal:
        console = Console(width=WIDE_TABLE_COLUMNS)
    console.print(table)


def print_table(rows: Sequence[BaseModel], columns: Sequence[str], *, title: str = "") -> None:
    """A table of models' fields named by ``columns``."""
    dumped = [row.model_dump(mode="json") for row in rows]
    print_rows(title, columns, [[data.get(c) for c in columns] for data in dumped])


def show(
    rows: Sequence[BaseModel], columns: Sequence[str], *, as_json: bool, title: str = ""
) -> None:
    if as_json:
        print_json(list(rows))
    else:
        print_table(rows, columns, title=title)


def say(message: str) -> None:
    sys.stdout.write(message + "\n")


def fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
