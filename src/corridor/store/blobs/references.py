"""What references blobs: each slice names queries of the digests it holds.

Blobs are shared by content across slices (a dataset version's Parquet file may also be a run's
artifact), so no slice deletes a blob when it drops a row; the sweep (`sweep`) deletes only what
no source references. The sources come from the slice table (`corridor.slices`), handed in by
the caller, so that the store never imports a slice (slices import the store). A slice that
starts keeping digests in a new column adds it to its source, or its blobs will be swept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

ReferenceSource = Callable[[], Sequence[Select[Any]]]
"""Return queries whose one column is a referenced digest (NULLs are ignored)."""


def referenced_digests(session: Session, sources: Mapping[str, ReferenceSource]) -> set[str]:
    """Every digest any source references, read in the caller's (one) transaction."""
    found: set[str] = set()
    for source in sources.values():
        for query in source():
            found.update(d for d in session.scalars(query) if d)
    return found
