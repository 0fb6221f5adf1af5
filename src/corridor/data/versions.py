"""Record a new dataset version: store its Parquet blob, then its row, all or nothing.

Order matters for "no partial state": the data is converted and checked before anything is
stored; the blob goes in next (content-addressed, so an identical blob is simply found); the
row goes in last, in one transaction with the dataset's version counter and the lineage edges.
If the row cannot be written, a blob this call created is deleted again. A dataset holds each
content once: storing bytes it already has returns the version that has them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from corridor.data import datasets as ds
from corridor.data import validate as validation
from corridor.data.convert import Converted
from corridor.data.expectations import ExpectationSuite, load_suite
from corridor.data.models import DatasetVersion
from corridor.data.schemas import SourceReport, VersionMeta
from corridor.data.sensitivity import DEFAULT_SENSITIVITY, Sensitivity, check_regions
from corridor.data.staging import Progress, no_progress
from corridor.data.validation_report import ValidationReport
from corridor.errors import InvalidInput
from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.security.policy import Principal

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
    runtime: Runtime,
    project: Project,
    name: str,
    new: NewVersion,
    meta: VersionMeta,
    *,
    by: Principal,
    progress: Progress = no_progress,
) -> Stored:
    """Record ``new`` as the next version of ``project``/``name`` (created if new)."""
    suite = requested_suite(meta)
    regions = check_regions(meta.regions) if meta.regions is not None else None
    check_suite_fits(suite, new.data.path)
    digest = new.data.digest
    created_blob = False
    # Touch, not exists: a blob sweep must see that this content is about to be referenced.
    if not runtime.blobs.touch(digest):
        stored = runtime.blobs.put(_pieces(new.data.path, progress))
        if stored != digest:  # the file changed under us: never record a wrong address
            runtime.blobs.delete(stored)
            raise InvalidInput("the converted data changed while it was stored; try again")
        created_blob = True
    try:
        with runtime.db.write() as session:
            resolved, created = _record(session, project, name, new, meta, regions, suite, by)
    except BaseException:
        if created_blob:
            runtime.blobs.delete(digest)
        raise
    report = None
    gate_digest = resolved.version.gate_digest
    if suite is not None or (created and gate_digest is not None):
        progress("validating", 0, None)
        check = suite or ExpectationSuite.model_validate(resolved.version.gate_suite)
        report = run_validation(check, pl.scan_parquet(new.data.path))
        with runtime.db.write() as session:
            version = session.get(DatasetVersion, resolved.version.id)
            assert version is not None
            ds.add_report(
                session,
                version,
                ds.VALIDATION,
                report.model_dump(mode="json"),
                by=by,
                suite=ds.suite_digest(check),
                passed=report.passed,
            )
            resolved = ds.Resolved(resolved.project, resolved.dataset, version)
    return Stored(resolved, created, report)


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
    from corridor.registry.lineage import Node, NodeKind, add_edge

    dataset = ds.lock_dataset(session, project, name, by=by, description=meta.description)
    existing = ds.content_version(session, dataset, new.data.digest)
    if existing is not None:
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
    if suite is not None and meta.gate:
        _gate(version, suite)
    elif previous is not None and previous.gate_digest is not None:
        # A gated dataset stays gated: each new version must pass the same suite.
        version.gate_suite, version.gate_digest = previous.gate_suite, previous.gate_digest
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
