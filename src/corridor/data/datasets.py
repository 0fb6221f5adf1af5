"""Datasets and their versions in the metadata store: find, resolve, describe, record.

Versions are immutable: their data (one Parquet blob), schema, row count, parent, recipe and
source never change once recorded. What may change later is only what is *about* them: reports
(validation, profile, PII scan; their bodies are sealed blobs, see `reports`) and gating.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Exists, Select, exists, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import InstrumentedAttribute, Session

from corridor.data.models import Dataset, DatasetMaskKey, DatasetReport, DatasetVersion
from corridor.data.reports import PII as PII
from corridor.data.reports import PROFILE as PROFILE
from corridor.data.reports import VALIDATION as VALIDATION
from corridor.data.reports import SealedReport
from corridor.data.sansio.expectations import ExpectationSuite
from corridor.data.sansio.refs import DatasetRef
from corridor.data.sansio.sensitivity import Sensitivity, VersionFacts
from corridor.data.schemas import (
    ColumnOut,
    DatasetOut,
    DatasetVersionOut,
    SourceReport,
    ValidationSummary,
)
from corridor.errors import NotFound
from corridor.names import check_name
from corridor.security import projects
from corridor.security.models import Project
from corridor.security.policy import Permission, Principal


@dataclass(frozen=True)
class Resolved:
    """A version with its dataset and project, as one request sees them."""

    project: Project
    dataset: Dataset
    version: DatasetVersion

    @property
    def label(self) -> str:
        return f"{self.project.name}/{self.dataset.name}@{self.version.version}"

    @property
    def facts(self) -> VersionFacts:
        v = self.version
        return VersionFacts(
            label=self.label,
            project=self.project.name,
            sensitivity=Sensitivity(v.sensitivity),
            masked=v.masked,
            gated=v.gate_digest is not None,
            gate_passed=v.gate_passed,
        )


def suite_digest(suite: ExpectationSuite) -> str:
    """A stable digest of a suite, so that a gate names exactly one suite."""
    text = json.dumps(suite.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def find_dataset(session: Session, project: Project, name: str) -> Dataset | None:
    return session.scalar(
        select(Dataset).where(Dataset.project_id == project.id, Dataset.name == name)
    )


def has_versions(dataset_id: str | InstrumentedAttribute[str]) -> Exists:
    """SQL: the dataset has a version. One without any had them all deleted (see `deletion`)."""
    return exists().where(DatasetVersion.dataset_id == dataset_id)


def get_dataset(session: Session, project: Project, name: str) -> Dataset:
    """The dataset ``name``; `NotFound` if there is none or all its versions were deleted."""
    check_name("dataset", name)
    dataset = find_dataset(session, project, name)
    if dataset is None or not session.scalar(select(has_versions(dataset.id))):
        raise NotFound(f"dataset {project.name}/{name} not found")
    return dataset


def lock_dataset(
    session: Session, project: Project, name: str, *, by: Principal, description: str | None
) -> Dataset:
    """The dataset (created if new), locked for this write transaction.

    On PostgreSQL the row lock makes concurrent writers of one dataset take turns, so version
    numbers and the one-copy-per-content rule hold; SQLite's write lock does that already.
    """
    check_name("dataset", name)
    query = select(Dataset).where(Dataset.project_id == project.id, Dataset.name == name)
    dataset = session.scalar(query.with_for_update())
    if dataset is not None:
        return dataset
    try:
        # A savepoint, so that losing a race with another creator leaves the session usable.
        with session.begin_nested():
            dataset = Dataset(
                project_id=project.id,
                name=name,
                description=description or "",
                created_by=by.name,
                last_version=0,
            )
            session.add(dataset)
    except sa_exc.IntegrityError:
        dataset = session.scalar(query.with_for_update())
        assert dataset is not None
    return dataset


def get_version(session: Session, dataset: Dataset, number: int | None) -> DatasetVersion:
    query = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
    if number is None:
        found = session.scalar(query.order_by(DatasetVersion.version.desc()).limit(1))
        if found is None:
            raise NotFound(f"dataset {dataset.name!r} has no versions")
        return found
    found = session.scalar(query.where(DatasetVersion.version == number))
    if found is None:
        # Numbers are never reused, so one at or below the counter was deleted.
        gone = " (it was deleted)" if number <= dataset.last_version else ""
        raise NotFound(f"dataset {dataset.name!r} has no version {number}{gone}")
    return found


def latest_version(session: Session, dataset: Dataset) -> DatasetVersion | None:
    return session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset.id)
        .order_by(DatasetVersion.version.desc())
        .limit(1)
    )


def content_version(session: Session, dataset: Dataset, digest: str) -> DatasetVersion | None:
    return session.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset.id, DatasetVersion.digest == digest
        )
    )


def resolve(session: Session, acting: Project, ref: DatasetRef, principal: Principal) -> Resolved:
    """The version ``ref`` names, read from ``acting``'s point of view.

    A reference into another project is honoured only if ``principal`` may read that project;
    otherwise it is reported as not found, exactly like a project the caller cannot see.
    """
    project = acting
    if ref.project is not None and ref.project != acting.name:
        project = projects.authorize(session, ref.project, principal, Permission.PROJECT_READ)
    dataset = get_dataset(session, project, ref.name)
    return Resolved(project, dataset, get_version(session, dataset, ref.version))


def resolve_by_id(session: Session, version_id: str) -> Resolved:
    version = session.get(DatasetVersion, version_id)
    if version is None:
        raise NotFound(f"dataset version {version_id} not found")
    dataset = session.get(Dataset, version.dataset_id)
    assert dataset is not None
    return Resolved(projects.get_by_id(session, dataset.project_id), dataset, version)


def add_report(
    session: Session,
    version: DatasetVersion,
    sealed: SealedReport,
    *,
    by: Principal,
    suite: str | None = None,
    passed: bool | None = None,
) -> DatasetReport:
    """Record a sealed report on ``version``; a validation against its gate suite sets its gate.

    The body is already a blob (`corridor.data.reports.seal`): the row holds its digest and a
    summary without cell values.
    """
    kind = sealed.kind
    report = DatasetReport(
        version_id=version.id,
        kind=kind,
        suite_digest=suite,
        passed=passed,
        summary=sealed.summary,
        body_digest=sealed.digest,
        created_by=by.name,
    )
    session.add(report)
    if kind == VALIDATION and suite is not None and suite == version.gate_digest:
        version.gate_passed = bool(passed)
    session.flush()
    return report


def latest_report(session: Session, version_id: str, kind: str) -> DatasetReport | None:
    return session.scalar(
        select(DatasetReport)
        .where(DatasetReport.version_id == version_id, DatasetReport.kind == kind)
        .order_by(DatasetReport.id.desc())
        .limit(1)
    )


def _summary(report: DatasetReport | None) -> ValidationSummary | None:
    if report is None:
        return None
    summary = report.summary
    return ValidationSummary(
        passed=bool(report.passed),
        suite=summary.get("suite"),
        failures=[str(name) for name in summary.get("failures", [])],
        created_at=report.created_at,
    )


def version_out(session: Session, resolved: Resolved) -> DatasetVersionOut:
    """The API view of a version, with its parent's reference and its newest validation."""
    v, dataset, project = resolved.version, resolved.dataset, resolved.project
    parent = None
    if v.parent_id is not None:
        up = resolve_by_id(session, v.parent_id)
        same = up.project.id == project.id
        parent = f"{up.dataset.name}@{up.version.version}" if same else up.label
    return DatasetVersionOut(
        id=v.id,
        project=project.name,
        dataset=dataset.name,
        version=v.version,
        ref=resolved.label,
        digest=v.digest,
        size_bytes=v.size_bytes,
        row_count=v.row_count,
        columns=[ColumnOut(**c) for c in v.columns],
        parent=parent,
        recipe=v.recipe,
        source=SourceReport.model_validate(v.source) if v.source else None,
        tags=dict(v.tags),
        sensitivity=Sensitivity(v.sensitivity),
        regions=list(v.regions),
        masked=v.masked,
        gated=v.gate_digest is not None,
        gate_passed=v.gate_passed,
        validation=_summary(latest_report(session, v.id, VALIDATION)),
        created_by=v.created_by,
        created_at=v.created_at,
    )


def dataset_out(session: Session, project: Project, dataset: Dataset) -> DatasetOut:
    latest = latest_version(session, dataset)
    count = session.scalar(
        select(func.count())
        .select_from(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset.id)
    )
    return DatasetOut(
        project=project.name,
        name=dataset.name,
        description=dataset.description,
        created_by=dataset.created_by,
        created_at=dataset.created_at,
        versions=int(count or 0),
        latest=version_out(session, Resolved(project, dataset, latest)) if latest else None,
    )


def list_datasets(session: Session, project: Project) -> list[DatasetOut]:
    found = session.scalars(
        select(Dataset)
        .where(Dataset.project_id == project.id, has_versions(Dataset.id))
        .order_by(Dataset.name)
    )
    return [dataset_out(session, project, d) for d in found]


def list_versions(session: Session, project: Project, dataset: Dataset) -> list[DatasetVersionOut]:
    found = session.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset.id)
        .order_by(DatasetVersion.version)
    )
    return [version_out(session, Resolved(project, dataset, v)) for v in found]


def version_projects(ids: Sequence[str]) -> Select[str, str]:
    """``(version id, project id)`` of the dataset versions among ``ids`` (lineage's owner
    query)."""
    return (
        select(DatasetVersion.id, Dataset.project_id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(DatasetVersion.id.in_(ids))
    )


def referenced_blobs() -> list[Select[tuple[str]]]:
    """The blobs the data slice holds: versions' Parquet files, report bodies and projects'
    masking keys.

    A reference source of the blob sweep (`corridor.store.blobs.references`).
    """
    return [
        select(DatasetVersion.digest),
        select(DatasetReport.body_digest),
        select(DatasetMaskKey.key_digest),
    ]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
