"""The blob store: content-addressed, encrypted at rest, on a local folder or S3."""

from corridor.store.blobs.base import RawStat, RawStore, RawWriter
from corridor.store.blobs.encrypted import BlobReader, BlobStat, BlobStore
from corridor.store.blobs.layout import check_digest
from corridor.store.blobs.registry import BACKENDS, open_blob_store, open_raw_store
from corridor.store.blobs.rotation import RotationReport, rotate_master_key

__all__ = [
    "BACKENDS",
    "BlobReader",
    "BlobStat",
    "BlobStore",
    "RawStat",
    "RawStore",
    "RawWriter",
    "RotationReport",
    "check_digest",
    "open_blob_store",
    "open_raw_store",
    "rotate_master_key",
]
