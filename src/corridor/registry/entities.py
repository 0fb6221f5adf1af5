"""What the registry services return: plain, frozen values shaped like MLflow's entities.

Times are epoch milliseconds; ``name`` is the full, server-wide model name; ``project`` is the
name of the project the model lives in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ModelVersionRecord:
    id: str
    name: str
    project: str
    version: int
    creation_time: int
    last_updated_time: int
    description: str
    user_id: str
    current_stage: str
    source: str
    run_id: str | None
    run_link: str | None
    model_id: str | None
    status: str
    status_message: str | None
    storage_location: str | None
    package_digest: str | None
    flavour: str | None
    scope: str | None
    derived_from: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    # The project's pickle switch, so that a client decides whether to load without asking.
    pickle_allowed: bool = False


@dataclass(frozen=True)
class RegisteredModelRecord:
    id: str
    name: str
    project: str
    description: str
    creation_time: int
    last_updated_time: int
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: list[ModelVersionRecord] = field(default_factory=list)
    pickle_allowed: bool = False


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; pass ``next_page_token`` back for the next (None: no more)."""

    items: list[T]
    next_page_token: str | None = None
