"""The reply to a delete of dataset versions (kept apart so the SDK imports no server code)."""

from __future__ import annotations

from pydantic import BaseModel


class DeletedOut(BaseModel):
    """What a delete removed, and what depended on it (non-empty only when forced)."""

    project: str
    dataset: str
    versions: list[int]
    forced: bool
    dependants: list[str]
    dataset_deleted: bool  # no version of the dataset is left
