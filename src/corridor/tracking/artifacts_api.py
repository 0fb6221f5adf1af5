"""HTTP routes of run artifacts: streamed upload and download, listing, deletion.

They live under their own prefix, ``/api/v1/artifacts/``, which the server exempts from the
request body limit (an artifact may be any size); uploads stream from the socket into the blob
store, downloads stream out of it in 1 MiB chunks, so neither holds a file in memory.
"""

from __future__ import annotations

import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi import Response as HttpResponse
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from corridor.security.policy import Permission
from corridor.tracking import artifacts
from corridor.tracking.api import run_project
from corridor.tracking.schemas import ArtifactList, FileInfoOut
from corridor.web.blob_response import blob_response
from corridor.web.bodies import blocking_chunks
from corridor.web.guard import Access, get_runtime, requires
from corridor.web.sessions import READ_SESSION, ReadSession, WriteRoute, WriteSession

PREFIX = "/api/v1/artifacts"
# Artifact uploads stream bodies of any size; the server exempts them from its body limit.
UNLIMITED_BODY_PREFIX = PREFIX + "/"
router = APIRouter(prefix=PREFIX, tags=["tracking"], route_class=WriteRoute)
_FILE = "/{run_id}/{path:path}"


@router.put(_FILE, response_model=FileInfoOut, status_code=201)
async def upload_artifact(
    run_id: str,
    path: str,
    request: Request,
    access: Access = requires(Permission.PROJECT_WRITE, project_from=run_project),
) -> FileInfoOut:
    """Store the raw request body as the run's file ``path``, replacing any file there."""
    runtime = get_runtime(request)
    body = blocking_chunks(request.stream())
    info = await anyio.to_thread.run_sync(
        lambda: artifacts.put_artifact(runtime.db, runtime.blobs, run_id, path, body)
    )
    return FileInfoOut.of(info)


@router.get(_FILE)
def download_artifact(
    run_id: str,
    path: str,
    request: Request,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ, project_from=run_project),
) -> StreamingResponse:
    """The bytes of the run's file ``path``, streamed."""
    info, reader = artifacts.open_artifact(session, get_runtime(request).blobs, run_id, path)
    return blob_response(reader, info.file_size)


@router.get("/{run_id}", response_model=ArtifactList)
def list_artifacts(
    run_id: str,
    path: str = Query(default="", max_length=2048, description="A directory; '' is the top."),
    session: Session = READ_SESSION,
    access: Access = requires(Permission.PROJECT_READ, project_from=run_project),
) -> ArtifactList:
    """The files and directories directly inside ``path``."""
    found = artifacts.list_artifacts(session, run_id, path)
    return ArtifactList(files=[FileInfoOut.of(f) for f in found])


@router.delete(_FILE, status_code=204)
def delete_artifact(
    run_id: str,
    path: str,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE, project_from=run_project),
) -> HttpResponse:
    """Remove the file ``path``, or everything under the directory ``path``."""
    artifacts.delete_artifacts(session, run_id, path)
    return HttpResponse(status_code=204)
