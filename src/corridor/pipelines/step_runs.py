"""Step runs: one execution of one step (or one item of a mapped step)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select


def referenced_blobs() -> list[Select[Any]]:
    """The queries of the blob digests step runs and runs reference (the blob sweep keeps them)."""
    return []
