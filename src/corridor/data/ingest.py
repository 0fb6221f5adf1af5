"""Ingest: bring outside data in as a new dataset version.

Two ways in. An **upload** streams bytes through the API (any client, any size up to
``CORRIDOR_MAX_INGEST_BYTES``). A **source** is something the server reads itself: a local
path, an ``s3://`` object or a SQL query's result. A server that read any path, bucket or
database a request named would hand every editor the server's own files and credentials, so
sources are read only when the app runs in the caller's own process (the in-process client of
`corridor.Client()`, which already has the caller's file access); over HTTP the SDK and CLI read
the source on the client side and upload it. Copying an existing version (``version=...``) is
allowed everywhere, under the usual read checks and consumption rules.

Whatever the way in, nothing is stored until the whole input has been read and converted, and
the workspace holding the intermediate files is removed in every case.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from corridor.data import datasets as ds
from corridor.data.consumption import workspace
from corridor.data.convert import check_decoded, convert, finish
from corridor.data.limits import DataLimits
from corridor.data.remote_inputs import is_s3, open_s3, query_to_parquet, redact_url
from corridor.data.sansio.formats import Format
from corridor.data.sansio.refs import parse_ref
from corridor.data.schemas import (
    IngestRequest,
    ReadOptions,
    SourceKind,
    SourceReport,
    VersionMeta,
)
from corridor.data.staging import Progress, no_progress, stage_path, stage_stream
from corridor.data.transform import copy
from corridor.data.versions import NewVersion, Stored, store_version
from corridor.errors import InvalidInput, PayloadTooLarge, PermissionDenied
from corridor.names import check_name
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.store.blobs import BlobStore
from corridor.store.db import Database

MAX_FILE_NAME = 200


def display_name(file_name: str | None, default: str = "upload") -> str:
    """A safe name for messages: the base name, printable characters only, shortened."""
    if not file_name:
        return default
    base = file_name.replace("\\", "/").rpartition("/")[2]
    base = "".join(c for c in base if c.isprintable())[:MAX_FILE_NAME]
    return base or default


def ingest_upload(
    db: Database,
    blobs: BlobStore,
    limits: DataLimits,
    project: Project,
    name: str,
    chunks: Iterable[bytes],
    *,
    file_name: str | None,
    total: int | None,
    options: ReadOptions,
    meta: VersionMeta,
    by: Principal,
    progress: Progress = no_progress,
) -> Stored:
    """Ingest a stream of bytes (an upload) as the next version of ``name``."""
    check_name("dataset", name)
    shown = display_name(file_name)
    limit = limits.max_ingest_bytes
    with workspace(limits) as space:
        staged = stage_stream(
            chunks,
            shown,
            space,
            max_bytes=limit,
            total=total,
            compression=options.compression,
            progress=progress,
        )
        progress("converting", 0, None)
        converted, report = convert(
            staged,
            options,
            space,
            kind="upload",
            max_decoded_bytes=limits.max_decoded_bytes,
        )
        return store_version(
            db,
            blobs,
            project,
            name,
            NewVersion(converted, source=report),
            meta,
            by=by,
            progress=progress,
        )


def ingest_source(
    db: Database,
    blobs: BlobStore,
    limits: DataLimits,
    project: Project,
    name: str,
    request: IngestRequest,
    *,
    by: Principal,
    in_process: bool = False,
    s3_endpoint_url: str | None = None,
    progress: Progress = no_progress,
) -> Stored:
    """Ingest what ``request`` names: a version to copy, or (``in_process`` only: the caller's
    own process serves the request) a path, an S3 object or a SQL query's result."""
    check_name("dataset", name)
    if (request.source is None) == (request.version is None):
        raise InvalidInput("give exactly one of source (a path, URI or URL) and version")
    if request.version is not None:
        with db.read() as session:
            source = ds.resolve(session, project, parse_ref(request.version), by)
        return copy(
            db, blobs, limits, source, (project, name), request.meta, by=by, progress=progress
        )
    assert request.source is not None
    if not in_process:
        raise PermissionDenied(
            "the server reads paths, S3 objects and databases only for an in-process client; "
            "over HTTP, upload the data (the SDK and `corridor data ingest` do this for you)"
        )
    limit = limits.max_ingest_bytes
    options = request.options
    with workspace(limits) as space:
        if request.query is not None:
            shown = redact_url(request.source)
            progress("querying", 0, None)
            path = query_to_parquet(request.source, request.query, space, progress=progress)
            converted = finish(path)
            check_decoded(shown, converted, limits.max_decoded_bytes)
            report = SourceReport(
                kind="sql",
                name=shown,
                format=Format.PARQUET,
                format_from="query",
                query=request.query,
            )
        else:
            if is_s3(request.source):
                obj = open_s3(request.source, s3_endpoint_url)
                if obj.size > limit:
                    raise _too_large(request.source, limit)
                staged = stage_stream(
                    obj.chunks(),
                    obj.uri,
                    space,
                    max_bytes=limit,
                    total=obj.size,
                    compression=options.compression,
                    progress=progress,
                )
                kind: SourceKind = "s3"
            else:
                path = local_path(request.source)
                staged = stage_path(
                    path,
                    path.name,
                    space,
                    max_bytes=limit,
                    compression=options.compression,
                    progress=progress,
                )
                kind = "path"
            progress("converting", 0, None)
            converted, report = convert(
                staged,
                options,
                space,
                kind=kind,
                max_decoded_bytes=limits.max_decoded_bytes,
            )
            if kind == "path":
                report = report.model_copy(update={"name": str(path)})
        return store_version(
            db,
            blobs,
            project,
            name,
            NewVersion(converted, source=report),
            request.meta,
            by=by,
            progress=progress,
        )


def _too_large(name: str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{name} is larger than the ingest limit of {limit} bytes (CORRIDOR_MAX_INGEST_BYTES)"
    )


def local_path(source: str) -> Path:
    """An absolute local path from a path or a ``file://`` URI."""
    if source.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(source)
        if parts.netloc not in ("", "localhost"):
            raise InvalidInput(f"{source!r} names another host; give a local path")
        source = unquote(parts.path)
    elif "://" in source:
        raise InvalidInput(
            f"source {source!r} is neither a local path, an s3:// URI nor a database URL "
            "with a query"
        )
    path = Path(source)
    if not path.is_absolute():
        raise InvalidInput(f"source path {source!r} must be absolute")
    return path
