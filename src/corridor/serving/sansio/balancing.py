"""Least-outstanding-requests balancing: which replica takes the next batch. No I/O.

The pool hands `LeastOutstanding.choose` the outstanding counts of its healthy replicas (in a
stable order) and gets back an index: the replica with the fewest batches accepted and not yet
answered. Ties go round-robin, from a cursor that moves past each pick, so that idle replicas
share a light load evenly instead of the first one taking everything.

Cost: it runs once per batch on the gateway's event loop, over a handful of replicas, so it is a
single pass over a list of ints with no allocation; one replica (the common case) returns at
once.
"""

from __future__ import annotations

from collections.abc import Sequence


class LeastOutstanding:
    """Pick the least-loaded of N replicas; ties round-robin."""

    __slots__ = ("_cursor",)

    def __init__(self) -> None:
        self._cursor = 0

    def choose(self, outstanding: Sequence[int]) -> int | None:
        """The index of the replica to use, or None when there is none."""
        n = len(outstanding)
        if n <= 1:
            return 0 if n == 1 else None
        start = self._cursor % n
        best = start
        best_load = outstanding[start]
        # Scan from the cursor, so the first of equal loads found is the next in turn.
        for step in range(1, n):
            i = (start + step) % n
            load = outstanding[i]
            if load < best_load:
                best, best_load = i, load
        self._cursor = best + 1
        return best
