"""The one table of what references blobs: each slice names a query of the digests it holds.

Blobs are shared by content across slices (a dataset version's Parquet file may also be a run's
artifact), so no slice deletes a blob when it drops a row; the sweep (`sweep`) deletes only what
no source here references. Sources are named by import path, as Metaflow's plugin table names
its plugins, so that the store never imports a slice (slices import the store). A slice that
starts keeping digests in a new column adds it to its source, or its blobs will be swept.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from corridor.errors import ConfigurationError

ReferenceSource = Callable[[], Sequence[Select[Any]]]
"""Return queries whose one column is a referenced digest (NULLs are ignored)."""

REFERENCE_SOURCES: dict[str, str] = {
    # dataset versions' Parquet files, report bodies and the projects' masking keys
    "data": "corridor.data.datasets:referenced_blobs",
    # artifact files, whoever owns them
    "tracking": "corridor.tracking.artifacts:referenced_blobs",
    # packages held by model versions, and every blob uploaded (staged) into a project
    "registry": "corridor.registry.uploads:referenced_blobs",
}


def load_sources(table: Mapping[str, str] = REFERENCE_SOURCES) -> dict[str, ReferenceSource]:
    """Import each source of ``table``; a name that does not resolve is a configuration error."""
    sources: dict[str, ReferenceSource] = {}
    for name, path in table.items():
        module_name, _, attribute = path.partition(":")
        try:
            source = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"blob reference source {name!r} ({path}) cannot be loaded: {exc}"
            ) from None
        sources[name] = source
    return sources


def referenced_digests(session: Session, sources: Mapping[str, ReferenceSource]) -> set[str]:
    """Every digest any source references, read in the caller's (one) transaction."""
    found: set[str] = set()
    for source in sources.values():
        for query in source():
            found.update(d for d in session.scalars(query) if d)
    return found
