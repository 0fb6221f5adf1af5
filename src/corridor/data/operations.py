"""Look at versions without changing them: validate, profile, scan for PII, diff.

Each reads the data from a workspace copy and stores what it found as a report on the version
(diffs are computed on demand and not stored). Validation against a version's gate suite is
what lifts, or keeps, its gate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NoReturn

import polars as pl

from corridor.data import datasets as ds
from corridor.data import drift
from corridor.data.expectations import ExpectationSuite, load_suite
from corridor.data.models import DatasetVersion
from corridor.data.pii.scan import ScanReport
from corridor.data.pii.scan import scan as pii_scan
from corridor.data.profile import Profile, profile
from corridor.data.reading import consume, scan, workspace
from corridor.data.schemas import DiffOut, KeyedDiff, PiiOut, ProfileOut, Spec
from corridor.data.validation_report import ValidationReport
from corridor.data.versions import run_validation
from corridor.errors import InvalidInput
from corridor.runtime import Runtime
from corridor.security.policy import Principal

EXACT_DRIFT_ROWS = 2_000_000
"""Above this many rows (both versions together) drift is estimated from profiles."""


def _reload(runtime: Runtime, resolved: ds.Resolved) -> ds.Resolved:
    with runtime.db.read() as session:
        version = session.get(DatasetVersion, resolved.version.id)
        assert version is not None
        return ds.Resolved(resolved.project, resolved.dataset, version)


def validate(
    runtime: Runtime,
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
    with workspace(runtime) as space:
        lazy_frames = {name: scan(runtime, r, space) for name, r in frames.items()}
        report = run_validation(checked, scan(runtime, resolved, space), lazy_frames, now)
    with runtime.db.write() as session:
        version = session.get(DatasetVersion, resolved.version.id)
        assert version is not None
        if now is not None and version.gate_digest == digest:  # gated on it meanwhile
            _refuse_client_clock(resolved.label)
        if gate and version.gate_digest != digest:
            version.gate_suite, version.gate_digest = checked.model_dump(mode="json"), digest
        ds.add_report(
            session,
            version,
            ds.VALIDATION,
            report.model_dump(mode="json"),
            by=by,
            suite=digest,
            passed=report.passed,
        )
    return _reload(runtime, resolved), report


def _refuse_client_clock(label: str) -> NoReturn:
    raise InvalidInput(
        f"{label}: `now` may not be given when the validation sets or can lift a gate (with "
        "gate, or against the version's gate suite): gates are judged by the server's clock; "
        "leave `now` out (it is only for ad-hoc reports against other suites)"
    )


def compute_profile(runtime: Runtime, resolved: ds.Resolved, *, by: Principal) -> ProfileOut:
    """Profile a version in one streaming pass and store the profile with it."""
    with workspace(runtime) as space:
        found = profile(scan(runtime, resolved, space))
    with runtime.db.write() as session:
        version = session.get(DatasetVersion, resolved.version.id)
        assert version is not None
        report = ds.add_report(session, version, ds.PROFILE, found.model_dump(mode="json"), by=by)
        created_at = report.created_at
    return ProfileOut(version=resolved.label, profile=found, created_at=created_at)


def stored_profile(runtime: Runtime, resolved: ds.Resolved) -> ProfileOut | None:
    with runtime.db.read() as session:
        report = ds.latest_report(session, resolved.version.id, ds.PROFILE)
    if report is None:
        return None
    return ProfileOut(
        version=resolved.label,
        profile=Profile.model_validate(report.body),
        created_at=report.created_at,
    )


def scan_pii(
    runtime: Runtime,
    resolved: ds.Resolved,
    *,
    sample_rows: int,
    columns: Sequence[str] | None,
    threshold: float,
    by: Principal,
) -> PiiOut:
    """Scan a sample of a version for personal data and store the findings with it."""
    with workspace(runtime) as space:
        report = pii_scan(scan(runtime, resolved, space), sample_rows=sample_rows, columns=columns)
    found = report.pii_columns(threshold)
    body = {**report.model_dump(mode="json"), "pii_columns": found, "threshold": threshold}
    with runtime.db.write() as session:
        version = session.get(DatasetVersion, resolved.version.id)
        assert version is not None
        ds.add_report(session, version, ds.PII, body, by=by)
    return PiiOut(version=resolved.label, pii_columns=found, report=report)


def stored_pii(runtime: Runtime, resolved: ds.Resolved) -> PiiOut | None:
    with runtime.db.read() as session:
        report = ds.latest_report(session, resolved.version.id, ds.PII)
    if report is None:
        return None
    body = dict(report.body)
    found = body.pop("pii_columns", {})
    body.pop("threshold", None)
    return PiiOut(version=resolved.label, pii_columns=found, report=ScanReport.model_validate(body))


def diff(runtime: Runtime, a: ds.Resolved, b: ds.Resolved, *, keys: Sequence[str] = ()) -> DiffOut:
    """How ``b`` differs from ``a``: schema, distributions and, given keys, rows."""
    if a.project.id != b.project.id:
        consume(b, a.project)
    with workspace(runtime) as space:
        left, right = scan(runtime, a, space), scan(runtime, b, space)
        if a.version.row_count + b.version.row_count <= EXACT_DRIFT_ROWS:
            report = drift.compare(left, right)
        else:
            report = drift.compare_profiles(_profile(runtime, a, left), _profile(runtime, b, right))
        keyed = _keyed(left, right, list(keys), a.label, b.label) if keys else None
    return DiffOut(
        a=a.label,
        b=b.label,
        rows_a=a.version.row_count,
        rows_b=b.version.row_count,
        drift=report,
        keyed=keyed,
    )


def _profile(runtime: Runtime, resolved: ds.Resolved, lf: pl.LazyFrame) -> Profile:
    stored = stored_profile(runtime, resolved)
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
