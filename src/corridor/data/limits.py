"""The part of the settings the data services read: where they work and how much they take.

Services below the api layer get this, the `Database` and the `BlobStore` rather than the
whole runtime, so that what each one touches shows in its signature and a test can hand it a
small limit without a settings file. `DataLimits.from_settings` is the one place it is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corridor.config import Settings
from corridor.store.staging_sweep import STAGING_DIR


@dataclass(frozen=True)
class DataLimits:
    """Workspace root and size limits of the data slice (see `Settings` for each field)."""

    tmp_root: Path  # each operation's `Workspace` is a folder under it (the sweep's too)
    max_ingest_bytes: int  # raw bytes read from an upload or a source
    max_decoded_bytes: int  # an input's size once decoded, checked before decoding

    @classmethod
    def from_settings(cls, settings: Settings) -> DataLimits:
        return cls(
            tmp_root=settings.home / STAGING_DIR,
            max_ingest_bytes=settings.max_ingest_bytes,
            max_decoded_bytes=settings.effective_max_decoded_bytes,
        )
