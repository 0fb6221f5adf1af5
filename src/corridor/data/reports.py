"""Report bodies at rest: sealed in the blob store, never in the metadata database.

A report's body carries cell values (a profile's top values, min and max; a validation's
failing rows), and no cell value of any dataset may rest in plain text in the home, whatever
its sensitivity. So a body is masked (`pii.report_masking`) and then stored as a blob, which
the blob store encrypts under a fresh data key wrapped by the master key, like the version's
own data. The metadata row keeps the blob's digest and only a summary that names no cell value
(`summarise`: the suite's and failing expectations' names, row counts, PII column names), so
that listings and gates need no blob read.

The blob store addresses content by the SHA-256 of its plaintext, so the digest of a small,
predictable body would let anyone who can read the database test guesses of the values in it.
Each sealed body therefore carries 16 random bytes (``salt``): its digest is unguessable, and
every report is its own blob (never shared, so the sweep reclaims it with its row).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass

import polars as pl
from pydantic import JsonValue

from corridor.data.sansio.pii.report_masking import (
    PII,
    PROFILE,
    VALIDATION,
    carries_values,
    mask_report,
)
from corridor.data.sansio.pii.scan import scan as pii_scan
from corridor.errors import IntegrityError
from corridor.store.blobs.encrypted import BlobStore

__all__ = ["PII", "PROFILE", "VALIDATION", "SealedReport", "flagged", "open_body", "seal"]

SALT_BYTES = 16
# A report body, and the summary of it a row keeps: JSON objects.
JsonObject = dict[str, JsonValue]


@dataclass(frozen=True)
class SealedReport:
    """A report body stored as a blob: what the metadata row records about it."""

    kind: str
    digest: str
    summary: JsonObject


def flagged(data: pl.LazyFrame) -> set[str]:
    """The columns of ``data`` that hold personal data, by the one rule (`pii_columns`)."""
    return set(pii_scan(data).pii_columns())


def seal(
    blobs: BlobStore,
    kind: str,
    body: JsonObject,
    personal: Callable[[], Collection[str]],
) -> tuple[SealedReport, JsonObject]:
    """Mask ``body`` (``personal`` names the PII columns; asked only if it holds values), store
    it as a salted blob, and return the record of it with the masked body."""
    masked: JsonObject = mask_report(kind, body, personal()) if carries_values(kind, body) else body
    payload = {"salt": secrets.token_hex(SALT_BYTES), "kind": kind, "body": masked}
    digest = blobs.put(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    return SealedReport(kind, digest, summarise(kind, masked)), masked


def open_body(blobs: BlobStore, digest: str, kind: str) -> JsonObject:
    """The body sealed under ``digest``; `IntegrityError` if it is not a report of ``kind``."""
    with blobs.open(digest) as reader:
        payload = json.loads(reader.read().decode("utf-8"))
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        raise IntegrityError(f"blob {digest} is not a {kind} report")
    body = payload.get("body")
    if not isinstance(body, dict):
        raise IntegrityError(f"blob {digest} holds no {kind} report body")
    return body


def summarise(kind: str, body: JsonObject) -> JsonObject:
    """What the metadata row may keep of a report: names and counts, never a cell value."""
    if kind == VALIDATION:
        results = body.get("results")
        checks = results if isinstance(results, list) else []
        return {
            "suite": body.get("suite"),
            "row_count": body.get("row_count"),
            "failures": [
                str(r.get("name")) for r in checks if isinstance(r, dict) and not r.get("passed")
            ],
        }
    if kind == PROFILE:
        return {"row_count": body.get("row_count")}
    if kind == PII:
        return {"pii_columns": body.get("pii_columns", {}), "threshold": body.get("threshold")}
    return {}
