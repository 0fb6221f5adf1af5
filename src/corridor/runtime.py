"""The live resources of one Corridor process: settings, metadata store and blob store."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from corridor.config import Settings
from corridor.errors import ConfigurationError
from corridor.store.db import Database
from corridor.store.migrate import upgrade

if TYPE_CHECKING:
    from corridor.store.blobs import BlobStore


@dataclass(eq=False)
class Runtime:
    """Opened once per process (server or in-process client) and shared by every request.

    ``local_admin`` is set only by the in-process transport: a request without a credential
    then acts as server admin, because whoever can read the home holds the keys anyway.
    """

    settings: Settings
    local_admin: bool = False
    db: Database = field(init=False)

    def __post_init__(self) -> None:
        if not self.settings.home.is_dir():
            raise ConfigurationError(
                f"Corridor home {self.settings.home} does not exist: run `corridor init` first"
            )
        self.db = Database(self.settings.effective_database_url)
        upgrade(self.db)

    @cached_property
    def blobs(self) -> BlobStore:
        from corridor.store.blobs import open_blob_store

        return open_blob_store(self.settings)

    def close(self) -> None:
        self.db.dispose()
