"""The live progress bar of a training job: the run's ``global_step`` against ``total_steps``.

Rank 0 logs both to the job's tracking run; the client reads the run's latest metrics while it
waits for the job, and draws a bar on standard error when that is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Report(Protocol):
    def __call__(self, done: int, total: int | None, loss: float | None) -> None: ...


@contextmanager
def reporter(enabled: bool, label: str) -> Iterator[Report]:
    """A callback that moves the bar, or does nothing (``enabled`` False, or no terminal)."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total, loss: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=None, loss="")

    def report(done: int, total: int | None, loss: float | None) -> None:
        shown = f"loss {loss:.4g}" if loss is not None else ""
        bar.update(task, completed=done, total=total, loss=shown)

    with bar:
        yield report
