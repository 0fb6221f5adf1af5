"""Code snapshots uploaded to a project: the tar.gz streamed into the blob store, checked
against the digest its path names, and its importable modules listed.

The body streams (it is exempt from the JSON body limit, under `UPLOAD_PREFIX`) and is counted
against ``max_snapshot_bytes`` as it arrives. The blob store hashes the plaintext while storing
it, so a body whose SHA-256 is not the path's digest is refused (422) without being buffered;
the blob it left is referenced by no row and goes with the next blob sweep. The module list
(``pkg/mod.py`` -> ``pkg.mod``, ``pkg/__init__.py`` -> ``pkg``) is read from the member names
as the archive streams through a decompressor that stops at a bound, so a small archive that
expands without end is refused, never unpacked.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO, Protocol

import anyio.to_thread
from fastapi import APIRouter, Path, Request
from fastapi import Response as HttpResponse
from sqlalchemy.orm import Session

from corridor.compute.models import Snapshot
from corridor.compute.schemas import DIGEST_PATTERN, SnapshotOut
from corridor.compute.snapshot import modules_of
from corridor.errors import InvalidInput, NotFound, PayloadTooLarge
from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.security.policy import Permission
from corridor.store.base import utcnow
from corridor.store.sql import insert_ignore
from corridor.web.bodies import blocking_chunks
from corridor.web.guard import Access, get_runtime, requires
from corridor.web.sessions import ReadSession

router = APIRouter(prefix="/api/v1", tags=["compute"])
# Snapshots stream bodies past the JSON body limit (up to max_snapshot_bytes).
UPLOAD_PREFIX = "/api/v1/snapshot-uploads/"
# An archive may expand to this many times the cap before it is refused as a bomb.
EXPANSION_LIMIT = 20
MAX_MEMBERS = 200_000
MAX_MODULES = 100_000

DigestPath = Path(pattern=DIGEST_PATTERN, description="sha256 of the tar.gz, hex")


class _Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Bounded:
    """A reader that refuses to yield more than ``limit`` bytes of ``inner``."""

    def __init__(self, inner: _Reader, limit: int) -> None:
        self.inner = inner
        self.left = limit
        self.position = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self.inner.read(1 << 20 if size < 0 else size)
        self.left -= len(data)
        if self.left < 0:
            raise PayloadTooLarge("the snapshot expands to more than its size allows")
        self.position += len(data)
        return data

    # The rest of what tarfile asks of a file; its stream mode ("r|") only reads forward.
    def write(self, b: bytes, /) -> object:
        raise io.UnsupportedOperation("read only")

    def tell(self) -> int:
        return self.position

    def seek(self, pos: int, /) -> object:
        raise io.UnsupportedOperation("not seekable")

    def close(self) -> object:
        return None


def list_modules(reader: BinaryIO, *, expanded_limit: int) -> list[str]:
    """The sorted module names of a tar.gz archive; InvalidInput if it is not one."""
    modules: set[str] = set()
    try:
        with (
            gzip.GzipFile(fileobj=reader, mode="rb") as unzipped,
            tarfile.open(
                fileobj=_Bounded(unzipped, expanded_limit),
                mode="r|",
            ) as archive,
        ):
            for count, member in enumerate(archive, start=1):
                if count > MAX_MEMBERS:
                    raise InvalidInput(f"the snapshot has more than {MAX_MEMBERS} entries")
                if member.isfile():
                    # The same rule the client used to name the function (`src/` layouts too).
                    modules.update(modules_of([member.name.removeprefix("./")]))
                    if len(modules) > MAX_MODULES:
                        raise InvalidInput(f"the snapshot has more than {MAX_MODULES} modules")
    except (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError, OSError) as exc:
        raise InvalidInput(f"the snapshot is not a tar.gz archive: {exc}") from None
    return sorted(modules)


def _counted(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise PayloadTooLarge(
                f"the snapshot is larger than {limit} bytes (CORRIDOR_MAX_SNAPSHOT_BYTES); "
                "leave data files out of the working directory (.gitignore) or pass datasets"
            )
        yield chunk


def store_snapshot(
    runtime: Runtime, project: Project, digest: str, body: Iterator[bytes], *, by: str
) -> tuple[Snapshot, bool]:
    """Store the streamed archive as ``project``'s snapshot ``digest``; True if it is new."""
    limit = runtime.settings.max_snapshot_bytes
    stored = runtime.blobs.put(_counted(body, limit))
    if stored != digest:
        raise InvalidInput(
            f"the body's sha256 is {stored}, not the digest in the path ({digest}): "
            "the upload was damaged or names the wrong snapshot"
        )
    size = runtime.blobs.size(digest)
    with runtime.blobs.open(digest) as reader:
        modules = list_modules(reader, expanded_limit=EXPANSION_LIMIT * limit)
    now = utcnow()
    with runtime.db.write() as session:
        existing = session.get(Snapshot, (project.id, digest))
        if existing is not None:
            return existing, False
        insert_ignore(
            session,
            Snapshot.__table__,  # type: ignore[arg-type]
            [
                {
                    "project_id": project.id,
                    "digest": digest,
                    "size_bytes": size,
                    "modules": modules,
                    "created_by": by,
                    "created_at": now,
                }
            ],
        )
        row = session.get(Snapshot, (project.id, digest))
        assert row is not None
        return row, True


def find_snapshot(session: Session, project: Project, digest: str) -> Snapshot:
    row = session.get(Snapshot, (project.id, digest))
    if row is None:
        raise NotFound(f"project {project.name!r} has no snapshot {digest}")
    return row


@router.head("/snapshot-uploads/{project}/{digest}", status_code=200)
def has_snapshot(
    project: str,
    session: ReadSession,
    digest: str = DigestPath,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> HttpResponse:
    """200 if the project has this snapshot (no need to upload it again), else 404."""
    find_snapshot(session, access.project_or_fail, digest)
    return HttpResponse(status_code=200)


@router.put("/snapshot-uploads/{project}/{digest}", response_model=SnapshotOut, status_code=201)
async def upload_snapshot(
    project: str,
    request: Request,
    response: HttpResponse,
    digest: str = DigestPath,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> SnapshotOut:
    """Store the raw body (a tar.gz of the code) as the project's snapshot ``digest``."""
    runtime = get_runtime(request)
    declared = request.headers.get("content-length")
    limit = runtime.settings.max_snapshot_bytes
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the snapshot is {declared} bytes, more than {limit} (CORRIDOR_MAX_SNAPSHOT_BYTES)"
        )

    def run() -> tuple[Snapshot, bool]:
        return store_snapshot(
            runtime,
            access.project_or_fail,
            digest,
            blocking_chunks(request.stream()),
            by=access.principal.name,
        )

    row, created = await anyio.to_thread.run_sync(run)
    if not created:
        response.status_code = 200
    return SnapshotOut(
        digest=row.digest, size_bytes=row.size_bytes, modules=row.modules, created_at=row.created_at
    )
