"""Record a new dataset version: store its Parquet blob, then its row, all or nothing.

Order matters for "no partial state": the data is converted and checked before anything is
stored; the blob goes in next (content-addressed, so an identical blob is simply found); the
row goes in last, in one transaction with the dataset's version counter and the lineage edges.
If the row cannot be written, a blob this call created is deleted again. A dataset holds each
content once: storing bytes it already has returns the version that has them, unless other
metadata was asked for (then `Conflict`: a version's metadata never changes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import select

from corridor.data import datasets as ds
from corridor.data import reports
from corridor.data.convert import Converted
from corridor.data.models import Dataset, DatasetVersion
from corridor.data.sansio import validate as validation
from corridor.data.sansio.expectations import ExpectationSuite, ForeignKey, load_suite
from corridor.data.sansio.sensitivity import DEFAULT_SENSITIVITY, Sensitivity, check_regions
from corridor.data.sansio.validation_report import ValidationReport
from corridor.data.schemas import SourceReport, VersionMeta
from corridor.data.staging import Progress, no_progress
from corridor.errors import Conflict, InvalidInput
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.store.blobs import BlobStore
from corridor.store.db import Database

PUT_BYTES = 1 << 20


@dataclass(frozen=True)
class NewVersion:
    """What a new version is made of, besides the caller's `VersionMeta`."""

    data: Converted
    source: SourceReport | None = None
    parent_id: str | None = None
    recipe: dict[str, Any] | None = None
    masked: bool = False
    inputs: Sequence[str] = field(default_factory=tuple)  # version ids it was made from


@dataclass(frozen=True)
class Stored:
    resolved: ds.Resolved
    created: bool
    validation: ValidationReport | None = None


def requested_suite(meta: VersionMeta) -> ExpectationSuite | None:
    """The suite ``meta`` asks for; `InvalidInput` if it gates without one."""
    if meta.expect is None:
        if meta.gate:
            raise InvalidInput("gate needs an expectation suite to gate on (expect=...)")
        return None
    return load_suite(meta.expect)


def check_suite_fits(suite: ExpectationSuite | None, path: Path) -> None:
    """Fail fast, before anything is stored, if the suite does not fit the data's columns."""
    if suite is not None:
        validation.plan(suite, pl.scan_parquet(path))


def run_validation(
    suite: ExpectationSuite,
    data: pl.LazyFrame,
    frames: dict[str, pl.LazyFrame] | None = None,
    now: dt.datetime | None = None,
) -> ValidationReport:
    return validation.validate(suite, data, frames=frames, now=now or ds.now())


def _pieces(path: Path, progress: Progress) -> Iterator[bytes]:
    total, done = path.stat().st_size, 0
    with path.open("rb") as f:
        while chunk := f.read(PUT_BYTES):
            done += len(chunk)
            progress("storing", done, total)
            yield chunk


def store_version(
    db: Database,
    blobs: BlobStore,
    project: Project,
    name: str,
    new: NewVersion,
    meta: VersionMeta,
    *,
    by: Principal,
    progress: Progress = no_progress,
) -> Stored:
    """Record ``new`` as the next version of ``project``/``name`` (created if new).

    The suite (asked for, or the dataset's gate) runs on the converted file before anything is
    stored, and its report goes in with the version row: a validation that raises stores nothing.
    """
    stored, _ = store_with_side(db, blobs, project, name, new, meta, by=by, progress=progress)
    return stored


SideMeta = Callable[[ds.Resolved], VersionMeta]


def store_with_side(
    db: Database,
    blobs: BlobStore,
    project: Project,
    name: str,
    new: NewVersion,
    meta: VersionMeta,
    side: tuple[str, NewVersion, SideMeta] | None = None,
    *,
    by: Principal,
    progress: Progress = no_progress,
) -> tuple[Stored, Stored | None]:
    """Like `store_version`, and also record ``side`` (a name, its data, and its metadata made
    from the main version) in the same transaction: both versions are stored, or neither."""
    created_blobs: list[str] = []
    try:
        main = _prepare(db, blobs, project, name, new, meta, created_blobs, progress)
        # The side's metadata needs the main version; what it is checked against does not.
        extra = (
            None
            if side is None
            else _prepare(db, blobs, project, side[0], side[1], VersionMeta(), created_blobs)
        )
        with db.write() as session:
            stored = _commit(session, project, name, new, meta, main, by)
            side_stored = None
            if side is not None and extra is not None:
                side_name, side_new, side_meta = side
                extra_meta = side_meta(stored.resolved)
                side_stored = _commit(session, project, side_name, side_new, extra_meta, extra, by)
    except BaseException:
        for digest in created_blobs:
            blobs.delete(digest)
        raise
    return stored, side_stored


@dataclass(frozen=True)
class _Prepared:
    suite: ExpectationSuite | None  # asked for
    check: ExpectationSuite | None  # run: the one asked for, else the dataset's gate
    report: ValidationReport | None  # as stored: PII columns' values masked
    sealed: reports.SealedReport | None = None


def _prepare(
    db: Database,
    blobs: BlobStore,
    project: Project,
    name: str,
    new: NewVersion,
    meta: VersionMeta,
    created_blobs: list[str],
    progress: Progress = no_progress,
) -> _Prepared:
    suite = requested_suite(meta)
    if meta.regions is not None:
        check_regions(meta.regions)
    check = suite or _current_gate(db, project, name)
    report, sealed = None, None
    if check is not None:
        check_runs_on_arrival(check)
        check_suite_fits(check, new.data.path)
        progress("validating", 0, None)
        data = pl.scan_parquet(new.data.path)
        found = run_validation(check, data)
        body = found.model_dump(mode="json")
        sealed, body = reports.seal(blobs, ds.VALIDATION, body, lambda: reports.flagged(data))
        created_blobs.append(sealed.digest)
        report = ValidationReport.model_validate(body)
    digest = new.data.digest
    # Touch, not exists: a blob sweep must see that this content is about to be referenced.
    if not blobs.touch(digest):
        stored = blobs.put(_pieces(new.data.path, progress))
        if stored != digest:  # the file changed under us: never record a wrong address
            blobs.delete(stored)
            raise InvalidInput("the converted data changed while it was stored; try again")
        created_blobs.append(digest)
    return _Prepared(suite, check, report, sealed)


def _commit(
    session: Any,
    project: Project,
    name: str,
    new: NewVersion,
    meta: VersionMeta,
    prepared: _Prepared,
    by: Principal,
) -> Stored:
    suite, check, report = prepared.suite, prepared.check, prepared.report
    regions = check_regions(meta.regions) if meta.regions is not None else None
    resolved, created = _record(session, project, name, new, meta, regions, suite, by)
    if created and suite is None and resolved.version.gate_digest != _digest(check):
        raise Conflict(
            f"the gate of dataset {project.name}/{name} changed during this ingest; ingest again"
        )
    if not created and suite is None:
        return Stored(resolved, created, None)  # content already held: nothing was asked
    if report is not None and check is not None and prepared.sealed is not None:
        ds.add_report(
            session,
            resolved.version,
            prepared.sealed,
            by=by,
            suite=ds.suite_digest(check),
            passed=report.passed,
        )
    return Stored(resolved, created, report)


def check_runs_on_arrival(suite: ExpectationSuite) -> None:
    """Refuse a suite an ingest cannot run: foreign keys need frames that only validate gets."""
    references = sorted({e.reference for e in suite.expectations if isinstance(e, ForeignKey)})
    if references:
        raise InvalidInput(
            f"the suite checks foreign keys against {', '.join(references)}, which an ingest "
            "cannot be given; validate the version afterwards with frames instead "
            "(a gate on such a suite must be replaced before new versions can be ingested)"
        )


def _digest(suite: ExpectationSuite | None) -> str | None:
    return ds.suite_digest(suite) if suite is not None else None


def _current_gate(db: Database, project: Project, name: str) -> ExpectationSuite | None:
    with db.read() as session:
        dataset = session.scalar(
            select(Dataset).where(Dataset.project_id == project.id, Dataset.name == name)
        )
        gated = gated_version(session, dataset) if dataset is not None else None
        if gated is None:
            return None
        return ExpectationSuite.model_validate(gated.gate_suite)


def gated_version(session: Any, dataset: Dataset) -> DatasetVersion | None:
    """The newest version of ``dataset`` that carries a gate: the dataset's gate."""
    found: DatasetVersion | None = session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset.id, DatasetVersion.gate_digest.is_not(None))
        .order_by(DatasetVersion.version.desc())
        .limit(1)
    )
    return found


def _check_same_meta(
    label: str, existing: DatasetVersion, meta: VersionMeta, regions: list[str] | None
) -> None:
    """Same bytes, other metadata: refuse rather than silently keep the existing version's."""
    differences = []
    if meta.sensitivity is not None and meta.sensitivity.value != existing.sensitivity:
        differences.append(f"sensitivity {existing.sensitivity}, not {meta.sensitivity.value}")
    if regions is not None and sorted(regions) != sorted(existing.regions):
        differences.append(f"regions {existing.regions}, not {regions}")
    if meta.tags and meta.tags != existing.tags:
        differences.append(f"tags {existing.tags}, not {meta.tags}")
    if differences:
        raise Conflict(
            f"{label}@{existing.version} already holds these bytes with "
            + "; ".join(differences)
            + "; a version's metadata cannot change: ingest other content or use that version"
        )


def _record(
    session: Any,
    project: Project,
    name: str,
    new: NewVersion,
    meta: VersionMeta,
    regions: list[str] | None,
    suite: ExpectationSuite | None,
    by: Principal,
) -> tuple[ds.Resolved, bool]:
    from corridor.lineage import Node, NodeKind, add_edge

    dataset = ds.lock_dataset(session, project, name, by=by, description=meta.description)
    existing = ds.content_version(session, dataset, new.data.digest)
    if existing is not None:
        _check_same_meta(f"{project.name}/{name}", existing, meta, regions)
        if suite is not None and meta.gate:
            _gate(existing, suite)
        return ds.Resolved(project, dataset, existing), False
    previous = ds.latest_version(session, dataset)
    if previous is None and meta.description is not None:
        # A dataset whose versions were all deleted starts again, with its numbering kept.
        dataset.description = meta.description
    sensitivity = meta.sensitivity or (
        Sensitivity(previous.sensitivity) if previous else DEFAULT_SENSITIVITY
    )
    if regions is None:
        regions = list(previous.regions) if previous else []
    dataset.last_version += 1
    version = DatasetVersion(
        dataset_id=dataset.id,
        version=dataset.last_version,
        digest=new.data.digest,
        size_bytes=new.data.size_bytes,
        row_count=new.data.row_count,
        columns=[{"name": n, "dtype": t} for n, t in new.data.columns],
        parent_id=new.parent_id,
        recipe=new.recipe,
        source=new.source.model_dump(mode="json") if new.source else None,
        tags=dict(meta.tags),
        sensitivity=sensitivity.value,
        regions=regions,
        masked=new.masked,
        gate_passed=False,
        created_by=by.name,
    )
    gated = gated_version(session, dataset)
    if suite is not None and meta.gate:
        _gate(version, suite)
    elif gated is not None:
        # A gated dataset stays gated: each new version must pass the same suite, even when
        # the latest version was stored without it.
        version.gate_suite, version.gate_digest = gated.gate_suite, gated.gate_digest
    session.add(version)
    session.flush()
    for source_id in dict.fromkeys([*([new.parent_id] if new.parent_id else []), *new.inputs]):
        add_edge(
            session,
            Node(NodeKind.DATASET_VERSION, source_id),
            Node(NodeKind.DATASET_VERSION, version.id),
        )
    return ds.Resolved(project, dataset, version), True


def _gate(version: DatasetVersion, suite: ExpectationSuite) -> None:
    digest = ds.suite_digest(suite)
    if version.gate_digest != digest:
        version.gate_suite = suite.model_dump(mode="json")
        version.gate_digest = digest
        version.gate_passed = False
