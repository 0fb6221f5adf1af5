"""MLflow's artifact proxy (``mlflow-artifacts``): upload, download, list and delete, streamed.

Runs report ``artifact_uri = mlflow-artifacts:/<experiment_id>/<run_id>/artifacts`` and logged
models ``mlflow-artifacts:/<experiment_id>/models/<model_id>/artifacts``, so the MLflow client
sends every artifact through these routes and Corridor stores it in its encrypted blob store.
Bodies stream both ways in chunks; neither side holds a file in memory.

A third kind of path, ``model-versions/<version_id>/artifacts``, is the folder MLflow loads for
a Corridor package (`version_folders`): it is listed and downloaded here, and never written.
"""

from __future__ import annotations

import mimetypes

import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput, NotFound
from corridor.mlflow_compat import locate, version_folders
from corridor.mlflow_compat.access import Located, MlflowAccess, MlflowGuard, RawMessage
from corridor.mlflow_compat.artifact_locations import ArtifactLocation, Owner, parse_location
from corridor.mlflow_compat.messages import Message, file_info_out
from corridor.mlflow_compat.routes import PREFIXES, reply
from corridor.registry import service
from corridor.security.policy import Permission
from corridor.tracking import artifacts, logged_models, runs
from corridor.tracking.artifact_paths import join
from corridor.web.blob_response import blob_response
from corridor.web.bodies import blocking_chunks
from corridor.web.guard import get_runtime
from corridor.web.sessions import REQUEST_READS, ReadSession, RequestReads, WriteRoute, WriteSession

router = APIRouter(tags=["mlflow"], route_class=WriteRoute)
SERVICE = "/mlflow-artifacts/artifacts"
# Types a browser would run or render as a page are served as text, never as themselves.
_ACTIVE_TYPES = ("text/html", "image/svg+xml", "application/xhtml+xml", "text/javascript")


class ArtifactTarget(Message):
    """An artifact request: the path after ``mlflow-artifacts:/`` (from the URL, not a body)."""

    path: str = ""

    @property
    def location(self) -> ArtifactLocation:
        return parse_location(self.path)


async def read_target(request: Request) -> RawMessage:
    """The artifact path of the URL (downloads, uploads, deletes) or of ``?path=`` (listings).

    Never the body: an upload's body is the file, streamed to the store by the handler.
    """
    path = request.path_params.get("artifact_path")
    if path is None:
        path = request.query_params.get("path", "")
    return {"path": path}


def locate_owner(session: Session, message: ArtifactTarget, request: Request) -> list[Located]:
    """The project of the run (or logged model) whose artifacts the path names."""
    location = message.location
    if location.owner is Owner.MODEL_VERSION:
        named = f"model version {location.owner_id!r}"
        return [(service.get_model_version_by_id(session, location.owner_id).project, named)]
    if location.owner is Owner.LOGGED_MODEL:
        found = locate.logged_model_project(session, request, location.owner_id)
        experiment_id = str(logged_models.model_row(session, location.owner_id).experiment_id)
    else:
        found = (runs.project_of_run(session, location.owner_id), f"run {location.owner_id!r}")
        experiment_id = runs.get_run_info(session, location.owner_id).experiment_id
    if experiment_id != location.experiment_id:
        raise NotFound(f"{found[1]} not found")
    return [found]


class ArtifactGuard(MlflowGuard[ArtifactTarget]):
    """`MlflowGuard` whose message is the artifact path, leaving the body to the handler."""

    def __init__(self, permission: Permission) -> None:
        super().__init__(permission, ArtifactTarget, locate_owner)

    def __call__(
        self,
        request: Request,
        reads: RequestReads = REQUEST_READS,
        raw: RawMessage = Depends(read_target),
    ) -> MlflowAccess:
        return super().__call__(request, reads, raw)


def _location(access: MlflowAccess) -> ArtifactLocation:
    return access.message_as(ArtifactTarget).location


def _media_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path)
    if guessed is None:
        return "application/octet-stream"
    return "text/plain" if guessed in _ACTIVE_TYPES else guessed


def _writable(location: ArtifactLocation) -> ArtifactLocation:
    if location.owner is Owner.MODEL_VERSION:
        raise InvalidInput(
            "a model version's files never change; log a new model and register it instead"
        )
    return location


async def upload_artifact(
    request: Request, access: MlflowAccess = Depends(ArtifactGuard(Permission.PROJECT_WRITE))
) -> JSONResponse:
    """Store the request body as the file the path names, replacing any file there."""
    location = _writable(_location(access))
    runtime = get_runtime(request)
    body = blocking_chunks(request.stream())
    await anyio.to_thread.run_sync(
        lambda: artifacts.put_artifact(
            runtime.db, runtime.blobs, location.owner_id, location.path, body
        )
    )
    return reply()


def download_artifact(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = Depends(ArtifactGuard(Permission.PROJECT_READ)),
) -> StreamingResponse:
    location = _location(access)
    runtime = get_runtime(request)
    size: int | None
    if location.owner is Owner.MODEL_VERSION:
        folder = version_folders.open_folder(session, runtime.blobs, location.owner_id)
        reader, size = folder.open(location.path)
    else:
        info, reader = artifacts.open_artifact(
            session, runtime.blobs, location.owner_id, location.path
        )
        size = info.file_size
    return blob_response(
        reader,
        size,
        media_type=_media_type(location.path),
        headers={"x-content-type-options": "nosniff"},
    )


def delete_artifact(
    session: WriteSession, access: MlflowAccess = Depends(ArtifactGuard(Permission.PROJECT_WRITE))
) -> JSONResponse:
    location = _writable(_location(access))
    artifacts.delete_artifacts(session, location.owner_id, location.path)
    return reply()


def list_artifacts(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = Depends(ArtifactGuard(Permission.PROJECT_READ)),
) -> JSONResponse:
    """The entries directly inside the directory the path names, relative to it."""
    location = _location(access)
    if location.owner is Owner.MODEL_VERSION:
        folder = version_folders.open_folder(session, get_runtime(request).blobs, location.owner_id)
        found = folder.list(location.path)
    else:
        found = artifacts.list_artifacts(session, location.owner_id, location.path)
    prefix = join(location.path, "") if location.path else ""
    files = [file_info_out(f) for f in found]
    for entry in files:
        entry["path"] = entry["path"].removeprefix(prefix)
    return reply({"files": files} if files else {})


for _prefix in PREFIXES:
    _file = f"{_prefix}{SERVICE}/{{artifact_path:path}}"
    router.add_api_route(_file, upload_artifact, methods=["PUT"], include_in_schema=False)
    router.add_api_route(_file, download_artifact, methods=["GET"], include_in_schema=False)
    router.add_api_route(_file, delete_artifact, methods=["DELETE"], include_in_schema=False)
    router.add_api_route(
        _prefix + SERVICE, list_artifacts, methods=["GET"], include_in_schema=False
    )
