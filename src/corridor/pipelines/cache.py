"""The step cache: earlier step runs of the same project whose output a new step run may reuse.

A hit is the newest step run of the project with the same cache key, in state ``succeeded`` or
``cached``, whose output blob still exists. The lookup never leaves the project (the cache
respects project permissions: whoever may write in a project may reuse its outputs, and nothing
else's). Both reads are one indexed query on ``(project_id, cache_key)`` or
``(project_id, code_digest)`` per chunk of keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.pipelines.models import StepRun
from corridor.pipelines.schemas import CacheEntry
from corridor.store.blobs import BlobStore

REUSABLE = ("succeeded", "cached")
MAX_INDEX_ENTRIES = 50_000
# Keys per query, well under SQLite's bound-parameter cap.
_CHUNK = 500


def _ended(row: StepRun) -> dt.datetime:
    return row.ended_at if row.ended_at is not None else row.created_at


def _newest_first(rows: list[StepRun]) -> list[StepRun]:
    return sorted(rows, key=_ended, reverse=True)


def hits(
    session: Session, blobs: BlobStore, project_id: str, cache_keys: Collection[str]
) -> dict[str, StepRun]:
    """The newest reusable step run of the project for each cache key that has one."""
    found: dict[str, StepRun] = {}
    keys = sorted(set(cache_keys))
    for i in range(0, len(keys), _CHUNK):
        rows = list(
            session.scalars(
                select(StepRun).where(
                    StepRun.project_id == project_id,
                    StepRun.cache_key.in_(keys[i : i + _CHUNK]),
                    StepRun.state.in_(REUSABLE),
                    StepRun.output_digest.is_not(None),
                )
            )
        )
        for row in _newest_first(rows):
            key = row.cache_key
            assert key is not None
            assert row.output_digest is not None
            # A touch, not an exists: the caller records a new reference to the blob, and the
            # blob sweep must give it its whole grace period.
            if key not in found and blobs.touch(row.output_digest):
                found[key] = row
    return found


def index(
    session: Session, blobs: BlobStore, project_id: str, code_digests: Collection[str]
) -> dict[str, CacheEntry]:
    """Every cache key of the project's reusable step runs of these code digests, with its
    newest hit (at most `MAX_INDEX_ENTRIES` keys)."""
    entries: dict[str, CacheEntry] = {}
    digests = sorted(set(code_digests))
    checked: dict[str, bool] = {}
    for i in range(0, len(digests), _CHUNK):
        rows = list(
            session.scalars(
                select(StepRun).where(
                    StepRun.project_id == project_id,
                    StepRun.code_digest.in_(digests[i : i + _CHUNK]),
                    StepRun.cache_key.is_not(None),
                    StepRun.state.in_(REUSABLE),
                    StepRun.output_digest.is_not(None),
                )
            )
        )
        for row in _newest_first(rows):
            key, digest = row.cache_key, row.output_digest
            assert key is not None
            assert digest is not None
            if key in entries:
                continue
            if digest not in checked:
                checked[digest] = blobs.exists(digest)
            if checked[digest]:
                entries[key] = CacheEntry(
                    step_run_id=row.id, output_digest=digest, output_kind=row.output_kind
                )
                if len(entries) >= MAX_INDEX_ENTRIES:
                    return entries
    return entries
