"""Reclaim blob storage: delete blobs that nothing references and nobody used lately.

Every writer stores bytes first and records the row that references them after, so a blob
without a reference may be an upload in flight. The sweep therefore deletes only blobs whose
last write or touch (`BlobStore.touch`, called by writers that reuse existing content) is older
than a grace period. Order matters: blobs are listed *before* references are read, so a blob
whose row commits in between is seen as referenced; one whose row commits later is younger
than the grace period unless its writer took longer than that between bytes and row.

One window stays open: a writer that touches existing content in the instant between the
sweep's last look at that blob and its delete loses the blob. Its reference then names a
missing blob (reads fail with `NotFound`; putting the content again repairs it). Keeping the
grace period long and sweeping when writes are quiet makes this vanishingly rare.

The sweep also removes what dead processes left in staging folders: the blob store's own
temporaries and, given the home's staging folder, data workspaces (see
`corridor.store.staging_sweep`, which never takes one that a live process holds). It sits
above both the blob store and the staging sweep, which reads the blob store's layout, so that
neither package imports the other back.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from corridor.errors import InvalidInput, NotFound
from corridor.store.base import utcnow
from corridor.store.blobs.encrypted import BlobStore
from corridor.store.blobs.layout import (
    KEYS,
    USED,
    is_digest,
    object_key,
    parse_sidecar_key,
    used_key,
)
from corridor.store.blobs.references import ReferenceSource, referenced_digests
from corridor.store.db import Database
from corridor.store.staging_sweep import sweep_blob_temporaries, sweep_staging

DEFAULT_GRACE_S = 3600.0


@dataclass
class SweepReport:
    """What a sweep found and deleted (or, in a dry run, would have deleted)."""

    dry_run: bool
    grace_s: float
    stored: int = 0  # blobs in the store when the sweep began
    referenced: int = 0  # of those, referenced by some source
    recent: int = 0  # unreferenced, but written or touched within the grace period
    deleted: int = 0
    freed_bytes: int = 0  # bytes at rest (encrypted) of the deleted blobs
    leftovers: int = 0  # data keys and markers whose blob is gone, deleted too
    temporaries: int = 0  # blob writes a dead process left unfinished, deleted
    temporary_bytes: int = 0
    workspaces: int = 0  # staging workspaces of dead processes, deleted
    workspace_bytes: int = 0
    deleted_digests: list[str] = field(default_factory=list)


def check_grace(grace_s: float) -> float:
    if not math.isfinite(grace_s) or grace_s < 0:
        raise InvalidInput(f"the grace period must be 0 seconds or more, got {grace_s}")
    return grace_s


def sweep(
    db: Database,
    blobs: BlobStore,
    *,
    sources: Mapping[str, ReferenceSource],
    grace_s: float = DEFAULT_GRACE_S,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    staging: Path | None = None,
) -> SweepReport:
    """Delete every blob no reference source names, last used more than ``grace_s`` ago,
    and the staging leftovers of dead processes (in ``staging`` too, if given).

    ``sources`` must be every slice's (`corridor.slices.reference_sources()`): a blob that a
    missing source references is deleted. There is no default, so no caller forgets one.
    """
    report = SweepReport(dry_run=dry_run, grace_s=check_grace(grace_s))
    cutoff = (now or utcnow()) - dt.timedelta(seconds=grace_s)
    stored = set(blobs.digests())
    with db.read() as session:
        referenced = referenced_digests(session, sources)
    report.stored = len(stored)
    report.referenced = len(stored & referenced)
    for digest in sorted(stored - referenced):
        try:
            found = blobs.stat(digest)
        except NotFound:
            continue  # deleted meanwhile by another sweep
        if found.last_used_at > cutoff:
            report.recent += 1
            continue
        if not dry_run:
            _delete(blobs, digest, cutoff)
        report.deleted += 1
        report.freed_bytes += found.stored_bytes
        report.deleted_digests.append(digest)
    live = stored if dry_run else stored - set(report.deleted_digests)
    report.leftovers = _sweep_leftovers(blobs, live, cutoff, dry_run)
    temporaries = sweep_blob_temporaries(blobs.raw, grace_s=grace_s, dry_run=dry_run, now=now)
    report.temporaries, report.temporary_bytes = temporaries.removed, temporaries.freed_bytes
    if staging is not None:
        at = None if now is None else now.timestamp()
        workspaces = sweep_staging(staging, dry_run=dry_run, now=at)
        report.workspaces, report.workspace_bytes = workspaces.removed, workspaces.freed_bytes
    return report


def _delete(blobs: BlobStore, digest: str, cutoff: dt.datetime) -> None:
    """Delete the object, then its data keys and marker written before ``cutoff``.

    A put of the same content in progress has just written its own data key and is about to
    publish the object again (`BlobStore.put`); `BlobStore.delete` would take that key too.
    """
    raw = blobs.raw
    raw.delete(object_key(digest))
    for key in [*raw.list(f"{KEYS}{digest[:2]}/{digest}."), used_key(digest)]:
        try:
            if raw.stat(key).modified_at <= cutoff:
                raw.delete(key)
        except NotFound:
            continue


def _sweep_leftovers(blobs: BlobStore, live: set[str], cutoff: dt.datetime, dry_run: bool) -> int:
    """Delete data keys and markers, older than ``cutoff``, whose blob does not exist.

    A put writes its data key just before its object, and a crash in between leaves the key
    alone; a fresh key without an object is a put in progress, so age counts here too.
    ``live`` holds the blobs known to exist; others are looked up, as they may be new.
    """
    raw, count = blobs.raw, 0
    present: dict[str, bool] = {}
    for key in [*raw.list(KEYS), *raw.list(USED)]:
        digest = _digest_of(key)
        if digest is None or digest in live:
            continue  # not ours to judge, or its blob is there
        if digest not in present:
            present[digest] = raw.exists(object_key(digest))
        if present[digest]:
            continue
        try:
            if raw.stat(key).modified_at > cutoff:
                continue
        except NotFound:
            continue
        if not dry_run:
            raw.delete(key)
        count += 1
    return count


def _digest_of(key: str) -> str | None:
    """The digest a data key or marker belongs to, or None for any other name."""
    if key.startswith(KEYS):
        parsed = parse_sidecar_key(key)
        return parsed[0] if parsed else None
    name = key.rpartition("/")[2]
    return name if is_digest(name) else None
