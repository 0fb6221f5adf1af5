"""The one table of blob backends, by URL scheme, and the factory that reads it."""

from __future__ import annotations

from urllib.parse import urlsplit

from corridor.config import Settings
from corridor.errors import ConfigurationError
from corridor.store.blobs.base import RawStore
from corridor.store.blobs.encrypted import BlobStore
from corridor.store.blobs.local import LocalRawStore
from corridor.store.blobs.s3 import S3RawStore

BACKENDS: dict[str, type[RawStore]] = {
    "file": LocalRawStore,
    "s3": S3RawStore,
}


def open_raw_store(url: str, settings: Settings) -> RawStore:
    """Open the backend that ``url``'s scheme names."""
    scheme = urlsplit(url).scheme
    backend = BACKENDS.get(scheme)
    if backend is None:
        known = ", ".join(f"{s}://" for s in BACKENDS)
        raise ConfigurationError(
            f"blob URL {url!r} has no known scheme; CORRIDOR_BLOB_URL must start with {known}"
        )
    return backend.from_url(url, settings)


def open_blob_store(settings: Settings) -> BlobStore:
    """Open the encrypted blob store that ``settings`` describe."""
    raw = open_raw_store(settings.effective_blob_url, settings)
    return BlobStore(raw, settings.effective_master_key_file)
