"""Look at versions without changing them: validate, profile, scan for PII, diff.

Each reads the data from a workspace copy and stores what it found as a report on the version
(diffs are computed on demand and not stored). Validation against a version's gate suite is
what lifts, or keeps, its gate. A report is sealed (`reports.seal`: the values of PII columns
masked, the body an encrypted blob) before its row is written, and the blob is deleted again if
the row cannot be; what a caller gets back is what was stored, masked the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import polars as pl
from sqlalchemy.orm import Session

from corridor.data import datasets as ds
from corridor.data import reports
from corridor.data.consumption import consume, scan, workspace
from corridor.data.limits import DataLimits
from corridor.data.models import DatasetVersion
from corridor.data.sansio import drift
from corridor.data.sansio.expectations import ExpectationSuite, load_suite
from corridor.data.sansio.pii.scan import ScanReport
from corridor.data.sansio.pii.scan import scan as pii_scan
from corridor.data.sansio.profile import Profile, profile
from corridor.data.sansio.validation_report import ValidationReport
from corridor.data.schemas import DiffOut, KeyedDiff, PiiOut, ProfileOut, Spec
from corridor.data.versions import run_validation
from corridor.errors import InvalidInput, NotFound
from corridor.security.policy import Principal
from corridor.store.blobs.encrypted import BlobStore
from corridor.store.db import Database

EXACT_DRIFT_ROWS = 2_000_000
"""Above this many rows (both versions together) drift is estimated from profiles."""


def _reload(db: Database, resolved: ds.Resolved) -> ds.Resolved:
    with db.read() as session:
        version = session.get(DatasetVersion, resolved.version.id)
        assert version is not None
        return ds.Resolved(resolved.project, resolved.dataset, version)


def validate(
    db: Database,
    blobs: BlobStore,
    limits: DataLimits,
    resolved: ds.Resolved,
    *,
    suite: Spec | None,
    frames: dict[str, ds.Resolved],
    gate: bool,
    now: dt.datetime | None,
    by: Principal,
) -> tuple[ds.Resolved, ValidationReport]:
    """Validate a version (against its gate suite if no suite is given); store the report.

    With ``gate``, the version is gated on this suite from now on. ``now`` (for freshness) is
    for ad-hoc reports only: a validation that sets or can lift a gate reads the server's clock,
    or a client could pass a freshness gate on stale data by naming an old ``now``.
    """
    if suite is None:
        if resolved.version.gate_suite is None:
            raise InvalidInput(f"{resolved.label} has no gate suite: give a suite to validate")
        checked = ExpectationSuite.model_validate(resolved.version.gate_suite)
    else:
        checked = load_suite(suite)
    digest = ds.suite_digest(checked)
    if now is not None and (gate or digest == resolved.version.gate_digest):
        _refuse_client_clock(resolved.label)
    for other in frames.values():
        consume(other, resolved.project)
    with workspace(limits) as space:
        lazy_frames = {name: scan(blobs, r, space) for name, r in frames.items()}
        data = scan(blobs, resolved, space)
        report = run_validation(checked, data, lazy_frames, now)
        sealed, body = reports.seal(
            blobs,
            ds.VALIDATION,
            report.model_dump(mode="json"),
            _personal(db, resolved, data),
        )
    with _unsealed_on_failure(blobs, sealed), db.write() as session:
        version = session.get(DatasetVersion, resolved.version.id)
        assert version is not None
        if now is not None and version.gate_digest == digest:  # gated on it meanwhile
            _refuse_client_clock(resolved.label)
        if gate and version.gate_digest != digest:
            version.gate_suite, version.gate_digest = checked.model_dump(mode="json"), digest
        ds.add_report(session, version, sealed, by=by, suite=digest, passed=report.passed)
    return _reload(db, resolved), ValidationReport.model_validate(body)


def stored_validation(
    session: Session, blobs: BlobStore, resolved: ds.Resolved
) -> ValidationReport | None:
    """The newest validation report stored with the version, opened from its blob."""
    body = _stored_body(session, blobs, resolved, ds.VALIDATION, "validate it")
    return ValidationReport.model_validate(body[0]) if body is not None else None


def _personal(
    db: Database, resolved: ds.Resolved, data: pl.LazyFrame
) -> Callable[[], Collection[str]]:
    """The version's PII columns, for masking a report: those its stored scan flagged, and those
    a scan finds now (by the one rule), so that a report made before any scan is masked too."""

    def find() -> Collection[str]:
        with db.read() as session:
            stored = ds.latest_report(session, resolved.version.id, ds.PII)
        known = set(stored.summary.get("pii_columns", {})) if stored is not None else set()
        return known | reports.flagged(data)

    return find


@contextmanager
def _unsealed_on_failure(blobs: BlobStore, sealed: reports.SealedReport) -> Iterator[None]:
    """Delete the sealed body again if its row is not written: nothing is left half-stored."""
    try:
        yield
    except BaseException:
        blobs.delete(sealed.digest)
        raise


def _stored_body(
    session: Session, blobs: BlobStore, resolved: ds.Resolved, kind: str, again: str
) -> tuple[dict[str, Any], dt.datetime] | None:
    report = ds.latest_report(session, resolved.version.id, kind)
    if report is None:
        return None
    if report.body_digest is None:
        raise NotFound(
            f"the {kind} report of {resolved.label} was stored before report bodies were "
            f"encrypted and was discarded when they began to be; {again} again"
        )
    return reports.open_body(blobs, report.body_digest, kind), report.created_at


def _refuse_client_clock(label: str) -> NoReturn:
    raise InvalidInput(
        f"{label}: `now` may not be given when the validation sets or can lift a gate (with "
        "gate, or against the version's gate suite): gates are judged by the server's clock; "
        "leave `now` out (it is only for ad-hoc reports against other suites)"
    )


def compute_profile(
    db: Database, blobs: BlobStore, limits: DataLimits, resolved: ds.Resolved, *, by: Principal
) -> ProfileOut:
    """Profile a version in one streaming pass and store the profile with it."""
    with workspace(limits) as space:
        data = scan(blobs, resolved, space)
        found = profile(data)
        sealed, body = reports.seal(
            blobs,
            ds.PROFILE,
            found.model_dump(mode="json"),
            _personal(db, resolved, data),
        )
    with _unsealed_on_failure(blobs, sealed), db.write() as session:
        version = session.get(DatasetVersion, resolved.version.id)
        assert version is not None
        report = ds.add_report(session, version, sealed, by=by)
        created_at = report.created_at
    masked = Profile.model_validate(body)
    return ProfileOut(version=resolved.label, profile=masked, created_at=created_at)


def stored_profile(session: Session, blobs: BlobStore, resolved: ds.Resolved) -> ProfileOut | None:
    stored = _stored_body(session, blobs, resolved, ds.PROFILE, "profile it")
    if stored is None:
        return None
    body, created_at = stored
    return ProfileOut(
        version=resolved.label, profile=Profile.model_validate(body), created_at=created_at
    )


def scan_pii(
    db: Database,
    blobs: BlobStore,
    limits: DataLimits,
    resolved: ds.Resolved,
    *,
    sample_rows: int,
    columns: Sequence[str] | None,
    threshold: float,
    by: Principal,
) -> PiiOut:
    """Scan a sample of a version for personal data and store the findings with it."""
    with workspace(limits) as space:
        report = pii_scan(scan(blobs, resolved, space), sample_rows=sample_rows, columns=columns)
    found = report.pii_columns(threshold)
    body = {**report.model_dump(mode="json"), "pii_columns": found, "threshold": threshold}
    # A scan holds names and scores, no cell values; it is sealed like every report all the same.
    sealed, _ = reports.seal(blobs, ds.PII, body, set)
    with _unsealed_on_failure(blobs, sealed), db.write() as session:
        version = session.get(DatasetVersion, resolved.version.id)
        assert version is not None
        ds.add_report(session, version, sealed, by=by)
    return PiiOut(version=resolved.label, pii_columns=found, report=report)


def stored_pii(session: Session, blobs: BlobStore, resolved: ds.Resolved) -> PiiOut | None:
    stored = _stored_body(session, blobs, resolved, ds.PII, "scan it")
    if stored is None:
        return None
    body = dict(stored[0])
    found = body.pop("pii_columns", {})
    body.pop("threshold", None)
    return PiiOut(version=resolved.label, pii_columns=found, report=ScanReport.model_validate(body))


def diff(
    db: Database,
    blobs: BlobStore,
    limits: DataLimits,
    a: ds.Resolved,
    b: ds.Resolved,
    *,
    keys: Sequence[str] = (),
) -> DiffOut:
    """How ``b`` differs from ``a``: schema, distributions and, given keys, rows."""
    if a.project.id != b.project.id:
        consume(b, a.project)
    with workspace(limits) as space:
        left, right = scan(blobs, a, space), scan(blobs, b, space)
        if a.version.row_count + b.version.row_count <= EXACT_DRIFT_ROWS:
            report = drift.compare(left, right)
        else:
            report = drift.compare_profiles(
                _profile(db, blobs, a, left), _profile(db, blobs, b, right)
            )
        keyed = _keyed(left, right, list(keys), a.label, b.label) if keys else None
    return DiffOut(
        a=a.label,
        b=b.label,
        rows_a=a.version.row_count,
        rows_b=b.version.row_count,
        drift=report,
        keyed=keyed,
    )


def _profile(db: Database, blobs: BlobStore, resolved: ds.Resolved, lf: pl.LazyFrame) -> Profile:
    with db.read() as session:
        stored = stored_profile(session, blobs, resolved)
    return stored.profile if stored is not None else profile(lf)


def _keyed(left: pl.LazyFrame, right: pl.LazyFrame, keys: list[str], a: str, b: str) -> KeyedDiff:
    ls, rs = left.collect_schema(), right.collect_schema()
    for label, schema in ((a, ls), (b, rs)):
        missing = [k for k in keys if k not in schema]
        if missing:
            raise InvalidInput(f"key column(s) {', '.join(missing)} are not in {label}")
    shared = [c for c in ls if c in rs and c not in keys]
    renamed = right.rename({c: f"{c}__b" for c in shared})
    changed_any = pl.any_horizontal(
        [pl.col(c).cast(pl.String).ne_missing(pl.col(f"{c}__b").cast(pl.String)) for c in shared]
        or [pl.lit(False)]
    )
    both = left.join(renamed, on=keys, how="inner")
    # A repeated key pairs every copy with every copy: the row counts would mean nothing.
    repeats = [
        lf.drop_nulls(keys).group_by(keys).agg(pl.len().alias("__n")).filter(pl.col("__n") > 1)
        for lf in (left, right)
    ]
    dup_a, dup_b, added, removed, changed, unchanged = pl.collect_all(
        [
            *(r.sort(keys).head(1) for r in repeats),
            right.join(left, on=keys, how="anti").select(pl.len()),
            left.join(right, on=keys, how="anti").select(pl.len()),
            both.filter(changed_any).select(pl.len()),
            both.filter(~changed_any).select(pl.len()),
        ],
        engine="streaming",
    )
    for label, dup in ((a, dup_a), (b, dup_b)):
        if dup.height:
            row = dup.row(0, named=True)
            value = row[keys[0]] if len(keys) == 1 else tuple(row[k] for k in keys)
            raise InvalidInput(
                f"key {', '.join(keys)} is not unique in {label}: {value!r} appears "
                f"{row['__n']} times; pick key columns that identify one row"
            )
    return KeyedDiff(
        keys=keys,
        added=int(added.item()),
        removed=int(removed.item()),
        changed=int(changed.item()),
        unchanged=int(unchanged.item()),
    )
