"""HTTP routes of the data slice: ``/api/v1/projects/{project}/datasets/...``.

Reads need ``project:read``, anything that records a version or a report ``project:write``
(cleaning and masking need ``project:read`` on their source and ``project:write`` where they
write, which may be another project); deleting needs ``project:admin`` (`api_delete`).
Uploads stream raw bodies of any size under `UPLOAD_PREFIX` (exempt from the JSON body limit,
bounded by ``CORRIDOR_MAX_INGEST_BYTES`` instead). References in bodies (``frames``, ``output``,
``version``) may name other projects (``crm/customers@2``): reading one needs ``project:read``
there, writing one ``project:write``, and the consumption rules of `sensitivity` apply.
"""

from __future__ import annotations

from typing import Literal

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from corridor.data import datasets as ds
from corridor.data import operations, progress, transform
from corridor.data.api_delete import router as deletion_router
from corridor.data.consumption import consume, resolve_refs, resolve_target
from corridor.data.ingest import ingest_source, ingest_upload
from corridor.data.limits import DataLimits
from corridor.data.paths import DATASET, DATASETS, VERSION
from corridor.data.sansio.formats import Format
from corridor.data.sansio.refs import DatasetRef, parse_ref, parse_version
from corridor.data.sansio.sensitivity import Sensitivity
from corridor.data.schemas import (
    CleanOut,
    CleanRequest,
    DatasetDetailOut,
    DatasetOut,
    DatasetVersionOut,
    DiffOut,
    IngestOut,
    IngestRequest,
    MaskOut,
    MaskRequest,
    PiiOut,
    PiiRequest,
    ProfileOut,
    ReadOptions,
    ValidateRequest,
    ValidationOut,
    VersionMeta,
)
from corridor.data.staging import Progress
from corridor.data.versions import Stored
from corridor.errors import InvalidInput, NotFound
from corridor.runtime import Runtime
from corridor.security import projects
from corridor.security.models import Project
from corridor.security.policy import Permission
from corridor.web.blob_response import blob_response
from corridor.web.bodies import blocking_chunks
from corridor.web.guard import Access, get_runtime, requires
from corridor.web.sessions import READ_SESSION, ReadSession

router = APIRouter(prefix="/api/v1", tags=["data"])
router.include_router(deletion_router)
# Uploads stream bodies of any size, so the server exempts this prefix from the body limit.
UPLOAD_PREFIX = "/api/v1/dataset-uploads/"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
VALIDATION_HEADER = "x-corridor-validation"
# A suite travels in the query string, next to the raw body; URLs stay well under 64 KiB.
MAX_SUITE_TEXT = 32_000


def _progress(request: Request, runtime: Runtime) -> Progress:
    return progress.listener(request.headers.get(progress.HEADER), in_process=runtime.local_admin)


def _limits(runtime: Runtime) -> DataLimits:
    # Services get the database, the blob store and these, never the runtime or its settings.
    return DataLimits.from_settings(runtime.settings)


# Routes that decode or compute (ingest, validate, clean, profile, scan, mask, diff) find what
# they need in one short read transaction and then work holding none: a read held for minutes
# of decoding would pin SQLite's WAL and a pooled connection. Quick reads use the request's
# read session (``ReadSession``).


def _resolve(session: Session, access: Access, name: str, version: str) -> ds.Resolved:
    ref = DatasetRef(name, parse_version(version))
    return ds.resolve(session, access.project_or_fail, ref, access.principal)


def _out(runtime: Runtime, resolved: ds.Resolved) -> DatasetVersionOut:
    """The reply describing a version a long route just wrote, read after its work."""
    with runtime.db.read() as session:
        return ds.version_out(session, resolved)


def _ingest_out(runtime: Runtime, stored: Stored, response: Response) -> IngestOut:
    response.status_code = 201 if stored.created else 200
    if stored.validation is not None:
        # The version is recorded either way; a client that reads only the status still sees it.
        passed = stored.validation.passed
        response.headers[VALIDATION_HEADER] = "passed" if passed else "failed"
    return IngestOut(
        created=stored.created,
        version=_out(runtime, stored.resolved),
        validation=stored.validation,
    )


def _target(
    session: Session, access: Access, output: str | None, default: str
) -> tuple[Project, str]:
    """The project and dataset derived data goes to: the caller needs project:write there.

    Routes that derive data need only project:read on their source, so that data can flow
    from a project one reads into one that one writes.
    """
    ref = resolve_target(access.project_or_fail, output, default)
    assert ref.project is not None
    target = projects.authorize(session, ref.project, access.principal, Permission.PROJECT_WRITE)
    return target, ref.name


@router.get(DATASETS, response_model=list[DatasetOut])
def list_datasets(
    project: str, session: ReadSession, access: Access = requires(Permission.PROJECT_READ)
) -> list[DatasetOut]:
    return ds.list_datasets(session, access.project_or_fail)


@router.get(DATASET, response_model=DatasetDetailOut)
def get_dataset(
    project: str,
    name: str,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> DatasetDetailOut:
    dataset = ds.get_dataset(session, access.project_or_fail, name)
    return DatasetDetailOut(
        dataset=ds.dataset_out(session, access.project_or_fail, dataset),
        versions=ds.list_versions(session, access.project_or_fail, dataset),
    )


@router.post(DATASET + "/versions", response_model=IngestOut, status_code=201)
def ingest(
    project: str,
    name: str,
    body: IngestRequest,
    request: Request,
    response: Response,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> IngestOut:
    """Copy a version (``version``), or, for an in-process client only, read a path, an S3
    object or a SQL query (``source``, ``query``) into the next version of ``name``."""
    runtime = get_runtime(request)
    stored = ingest_source(
        runtime.db,
        runtime.blobs,
        _limits(runtime),
        access.project_or_fail,
        name,
        body,
        by=access.principal,
        in_process=runtime.local_admin,
        s3_endpoint_url=runtime.settings.s3_endpoint_url,
        progress=_progress(request, runtime),
    )
    return _ingest_out(runtime, stored, response)


def _pairs(items: list[str], what: str, sep: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, found, value = item.rpartition(sep) if sep == ":" else item.partition(sep)
        if not found or not key:
            raise InvalidInput(f"{what} {item!r} must look like key{sep}value")
        pairs[key] = value
    return pairs


@router.post("/dataset-uploads/{project}/{name}", response_model=IngestOut, status_code=201)
async def upload(
    project: str,
    name: str,
    request: Request,
    response: Response,
    file_name: str | None = Query(None, max_length=500, description="shown in messages"),
    format: Format | None = None,
    compression: Literal["auto", "none", "gzip", "zstd", "bz2"] = "auto",
    encoding: str | None = Query(None, max_length=40),
    delimiter: str | None = Query(None, min_length=1, max_length=1),
    quote_char: str | None = Query(None, min_length=1, max_length=1),
    quoting: bool = True,
    has_header: bool | None = None,
    null_value: list[str] = Query(default=[], max_length=100),
    dtype: list[str] = Query(default=[], max_length=10_000, description="column:type"),
    infer_schema_rows: int = Query(10_000, ge=0, le=10_000_000),
    parse_dates: bool = False,
    sensitivity: Sensitivity | None = None,
    region: list[str] | None = Query(default=None, max_length=64),
    tag: list[str] = Query(default=[], max_length=100, description="key=value"),
    description: str | None = Query(None, max_length=2000),
    expect: str | None = Query(
        None, max_length=MAX_SUITE_TEXT, description="an expectation suite, JSON or YAML text"
    ),
    gate: bool = Query(False, description="gate the version on ``expect``"),
    access: Access = requires(Permission.PROJECT_WRITE, project_param="project"),
) -> IngestOut:
    """Ingest the raw request body (CSV, Parquet, JSON lines or Arrow IPC; gzip, zstd or bz2
    compressed or not) as the next version of ``name``; ``expect`` is validated before the
    version is recorded, so a suite that cannot run records nothing."""
    runtime = get_runtime(request)
    options = ReadOptions(
        format=format,
        compression=compression,
        encoding=encoding,
        delimiter=delimiter,
        quote_char=quote_char,
        quoting=quoting,
        has_header=has_header,
        null_values=null_value,
        dtypes=_pairs(dtype, "dtype", ":"),
        infer_schema_rows=infer_schema_rows,
        parse_dates=parse_dates,
    )
    meta = VersionMeta(
        description=description,
        sensitivity=sensitivity,
        regions=region,
        tags=_pairs(tag, "tag", "="),
        expect=expect,
        gate=gate,
    )
    declared = request.headers.get("content-length")
    total = int(declared) if declared and declared.isdigit() else None

    def run() -> Stored:
        return ingest_upload(
            runtime.db,
            runtime.blobs,
            _limits(runtime),
            access.project_or_fail,
            name,
            blocking_chunks(request.stream()),
            file_name=file_name,
            total=total,
            options=options,
            meta=meta,
            by=access.principal,
            progress=_progress(request, runtime),
        )

    stored = await anyio.to_thread.run_sync(run)
    return _ingest_out(runtime, stored, response)


@router.get(VERSION, response_model=DatasetVersionOut)
def get_version(
    project: str,
    name: str,
    version: str,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> DatasetVersionOut:
    return ds.version_out(session, _resolve(session, access, name, version))


def _consumer(session: Session, access: Access, for_project: str | None) -> Project:
    acting = access.project_or_fail
    if for_project is None or for_project == acting.name:
        return acting
    return projects.authorize(session, for_project, access.principal, Permission.PROJECT_READ)


@router.get(VERSION + "/data")
def download(
    project: str,
    name: str,
    version: str,
    request: Request,
    for_project: str | None = Query(
        None, max_length=64, description="the project the data is read for (default: its own)"
    ),
    session: Session = READ_SESSION,
    access: Access = requires(Permission.PROJECT_READ),
) -> StreamingResponse:
    """The version's data as Parquet, streamed and verified as it is read; the gate and the
    masking rule apply for ``for_project``."""
    resolved = consume(
        _resolve(session, access, name, version), _consumer(session, access, for_project)
    )
    reader = get_runtime(request).blobs.open(resolved.version.digest)
    return blob_response(
        reader,
        resolved.version.size_bytes,
        media_type=PARQUET_MEDIA_TYPE,
        headers={
            "x-corridor-digest": resolved.version.digest,
            "x-corridor-version": resolved.label,
        },
    )


def _frames(session: Session, access: Access, refs: dict[str, str]) -> dict[str, ds.Resolved]:
    return resolve_refs(session, access.project_or_fail, refs, access.principal)


@router.post(VERSION + "/validate", response_model=ValidationOut)
def validate(
    project: str,
    name: str,
    version: str,
    body: ValidateRequest,
    request: Request,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> ValidationOut:
    """Validate the version against a suite (or its gate suite) and store the report."""
    runtime = get_runtime(request)
    with runtime.db.read() as session:
        source = _resolve(session, access, name, version)
        frames = _frames(session, access, body.frames)
    resolved, report = operations.validate(
        runtime.db,
        runtime.blobs,
        _limits(runtime),
        source,
        suite=body.suite,
        frames=frames,
        gate=body.gate,
        now=body.now,
        by=access.principal,
    )
    return ValidationOut(version=_out(runtime, resolved), report=report)


@router.get(VERSION + "/validation", response_model=ValidationOut)
def get_validation(
    project: str,
    name: str,
    version: str,
    request: Request,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> ValidationOut:
    """The newest validation report stored with the version."""
    resolved = _resolve(session, access, name, version)
    report = operations.stored_validation(session, get_runtime(request).blobs, resolved)
    if report is None:
        raise NotFound(f"{resolved.label} has not been validated")
    return ValidationOut(version=ds.version_out(session, resolved), report=report)


@router.post(VERSION + "/clean", response_model=CleanOut)
def clean(
    project: str,
    name: str,
    version: str,
    body: CleanRequest,
    request: Request,
    response: Response,
    access: Access = requires(Permission.PROJECT_READ),
) -> CleanOut:
    """Apply a cleaning recipe; the output (and any quarantined rows) become new versions."""
    runtime = get_runtime(request)
    with runtime.db.read() as session:
        source = _resolve(session, access, name, version)
        frames = _frames(session, access, body.frames)
        target = _target(session, access, body.output, name)
    out = transform.clean(
        runtime.db,
        runtime.blobs,
        _limits(runtime),
        source,
        frames,
        target,
        body,
        by=access.principal,
        progress=_progress(request, runtime),
    )
    response.status_code = 201 if out.created else 200
    return out


@router.post(VERSION + "/profile", response_model=ProfileOut)
def profile(
    project: str,
    name: str,
    version: str,
    request: Request,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> ProfileOut:
    """Profile the version and store the profile with it."""
    runtime = get_runtime(request)
    with runtime.db.read() as session:
        resolved = _resolve(session, access, name, version)
    return operations.compute_profile(
        runtime.db, runtime.blobs, _limits(runtime), resolved, by=access.principal
    )


@router.get(VERSION + "/profile", response_model=ProfileOut)
def get_profile(
    project: str,
    name: str,
    version: str,
    request: Request,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> ProfileOut:
    """The newest profile stored with the version."""
    resolved = _resolve(session, access, name, version)
    found = operations.stored_profile(session, get_runtime(request).blobs, resolved)
    if found is None:
        raise NotFound(f"{resolved.label} has no profile yet: POST to profile it")
    return found


@router.get(DATASET + "/diff", response_model=DiffOut)
def diff(
    project: str,
    name: str,
    request: Request,
    a: str = Query(max_length=200, description="a version of this dataset (3, latest)"),
    b: str = Query(max_length=200, description="another version, or [project/]name@3"),
    key: list[str] = Query(default=[], max_length=20, description="key columns of a row diff"),
    access: Access = requires(Permission.PROJECT_READ),
) -> DiffOut:
    """How version ``b`` differs from ``a``: schema, drift and, given keys, rows."""
    runtime = get_runtime(request)
    other = parse_ref(b) if "@" in b or "/" in b else DatasetRef(name, parse_version(b))
    with runtime.db.read() as session:
        left = _resolve(session, access, name, a)
        right = ds.resolve(session, access.project_or_fail, other, access.principal)
    return operations.diff(runtime.db, runtime.blobs, _limits(runtime), left, right, keys=key)


@router.post(VERSION + "/pii", response_model=PiiOut)
def pii(
    project: str,
    name: str,
    version: str,
    body: PiiRequest,
    request: Request,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> PiiOut:
    """Scan a sample of the version for personal data and store the findings."""
    runtime = get_runtime(request)
    with runtime.db.read() as session:
        resolved = _resolve(session, access, name, version)
    return operations.scan_pii(
        runtime.db,
        runtime.blobs,
        _limits(runtime),
        resolved,
        sample_rows=body.sample_rows,
        columns=body.columns,
        threshold=body.threshold,
        by=access.principal,
    )


@router.get(VERSION + "/pii", response_model=PiiOut)
def get_pii(
    project: str,
    name: str,
    version: str,
    request: Request,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> PiiOut:
    """The newest PII scan stored with the version."""
    resolved = _resolve(session, access, name, version)
    found = operations.stored_pii(session, get_runtime(request).blobs, resolved)
    if found is None:
        raise NotFound(f"{resolved.label} has not been scanned for personal data")
    return found


@router.post(VERSION + "/mask", response_model=MaskOut)
def mask(
    project: str,
    name: str,
    version: str,
    body: MaskRequest,
    request: Request,
    response: Response,
    access: Access = requires(Permission.PROJECT_READ),
) -> MaskOut:
    """Write a masked copy of the version (every flagged column must be covered)."""
    runtime = get_runtime(request)
    with runtime.db.read() as session:
        source = _resolve(session, access, name, version)
        target = _target(session, access, body.output, name)
    stored = transform.mask(
        runtime.db,
        runtime.blobs,
        _limits(runtime),
        source,
        target,
        body,
        by=access.principal,
        progress=_progress(request, runtime),
    )
    response.status_code = 201 if stored.created else 200
    return MaskOut(created=stored.created, version=_out(runtime, stored.resolved))
