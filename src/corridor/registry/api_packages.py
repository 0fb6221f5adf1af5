"""HTTP routes that move package bytes, resolve URIs and walk lineage.

Uploads are raw request bodies, streamed into the blob store as they arrive (no size limit
but the store's: `corridor.server.app` exempts `UPLOAD_PREFIX` from the JSON body limit).
Downloads stream one listed file of a version's package; a path that the manifest does not
list is simply not found, so no path from a request ever reaches a file system.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from corridor.errors import Conflict
from corridor.lineage import Direction, Lineage, Node
from corridor.registry import service
from corridor.registry.manifest import canonical_json
from corridor.registry.package_store import open_package
from corridor.registry.records import version_labels
from corridor.registry.routing import VERSION, full_name
from corridor.registry.schemas import (
    BlobOut,
    LineageEdgeOut,
    LineageNodeOut,
    LineageOut,
    ModelPage,
    ModelVersionOut,
    RegisteredModelOut,
)
from corridor.security.policy import Permission
from corridor.web.blob_response import blob_response
from corridor.web.bodies import blocking_chunks
from corridor.web.guard import Access, get_runtime, requires
from corridor.web.sessions import READ_SESSION, ReadSession

router = APIRouter(tags=["registry"])
# Uploads stream bodies of any size, so the server exempts this prefix from the JSON body limit.
UPLOAD_PREFIX = "/api/v1/blobs/"


@router.post("/blobs/{project}", response_model=BlobOut, status_code=201)
async def upload_blob(
    project: str, request: Request, access: Access = requires(Permission.PROJECT_WRITE)
) -> BlobOut:
    """Store the raw request body as a blob usable in this project's packages."""
    runtime = get_runtime(request)
    size = 0

    def pieces() -> Iterator[bytes]:
        nonlocal size
        for chunk in blocking_chunks(request.stream()):
            size += len(chunk)
            yield chunk

    digest = await anyio.to_thread.run_sync(runtime.blobs.put, pieces())

    def stage() -> None:
        with runtime.db.write() as session:
            service.stage_blobs(session, access.project_or_fail.id, {digest: size})

    await anyio.to_thread.run_sync(stage)
    return BlobOut(digest=digest, size=size)


@router.get("/models", response_model=ModelPage)
def search_all_models(
    filter_string: str = Query(default="", alias="filter", max_length=2000),
    order_by: list[str] = Query(default=[], max_length=10),
    max_results: int = Query(default=100, gt=0, le=1000),
    page_token: str | None = Query(default=None, max_length=2000),
    session: Session = READ_SESSION,
    access: Access = requires(Permission.AUTHENTICATED),
) -> ModelPage:
    """Search the models of every project you can read ('name = ...' finds a model's project)."""
    page = service.search_registered_models(
        session,
        project_ids=service.readable_project_ids(session, access.principal),
        filter_string=filter_string,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
    )
    return ModelPage(
        models=[RegisteredModelOut.of(m) for m in page.items], next_page_token=page.next_page_token
    )


@router.get("/projects/{project}/resolve", response_model=ModelVersionOut)
def resolve_uri(
    project: str,
    uri: str = Query(max_length=500, description="models:/name/3, models:/name@alias..."),
    session: Session = READ_SESSION,
    access: Access = requires(Permission.PROJECT_READ),
) -> ModelVersionOut:
    """The version a ``models:/`` URI names, among this project's models."""
    record = service.resolve_model_uri(session, uri, project_id=access.project_or_fail.id)
    return ModelVersionOut.of(record)


def _package_digest(session: Session, access: Access, name: str, version: str) -> str:
    record = service.get_model_version(
        session, full_name(access, name), version, project_id=access.project_or_fail.id
    )
    if record.package_digest is None:
        raise Conflict(
            f"version {record.version} of {record.name!r} has no package ({record.status})"
        )
    return record.package_digest


@router.get(VERSION + "/manifest")
def get_manifest(
    project: str,
    name: str,
    version: str,
    request: Request,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> Response:
    """The package manifest, byte for byte as stored (its SHA-256 is the package digest)."""
    digest = _package_digest(session, access, name, version)
    manifest = open_package(get_runtime(request).blobs, digest).manifest
    return Response(
        canonical_json(manifest),
        media_type="application/json",
        headers={"x-corridor-package-digest": digest},
    )


@router.get(VERSION + "/files/{path:path}")
def download_file(
    project: str,
    name: str,
    version: str,
    path: str,
    request: Request,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> StreamingResponse:
    """One file of the version's package, streamed and verified as it is read."""
    digest = _package_digest(session, access, name, version)
    package = open_package(get_runtime(request).blobs, digest)
    reader = package.open(path)
    entry = package.manifest.files[path]
    return blob_response(reader, entry.size, headers={"x-corridor-digest": entry.digest})


def _lineage_out(session: Session, lineage: Lineage) -> LineageOut:
    labels = version_labels(
        session, [n.id for n in lineage.nodes if n.kind is service.NodeKind.MODEL_VERSION]
    )

    def node(n: Node, distance: int) -> LineageNodeOut:
        project, model, number = labels.get(n.id, (None, None, None))
        if n.kind is not service.NodeKind.MODEL_VERSION:
            project, model, number = None, None, None
        return LineageNodeOut(
            kind=n.kind.value,
            id=n.id,
            distance=distance,
            project=project,
            name=model,
            version=number,
        )

    return LineageOut(
        root=node(lineage.root, 0),
        direction=lineage.direction.value,
        depth=lineage.depth,
        nodes=[node(n, d) for n, d in sorted(lineage.nodes.items(), key=lambda i: (i[1], i[0]))],
        edges=[
            LineageEdgeOut(
                src_kind=e.src.kind.value,
                src_id=e.src.id,
                dst_kind=e.dst.kind.value,
                dst_id=e.dst.id,
                created_at=e.created_at,
            )
            for e in lineage.edges
        ],
    )


def _walk(
    session: Session, access: Access, root: Node, direction: Direction, depth: int
) -> LineageOut:
    lineage = service.walk(
        session,
        root,
        direction,
        depth=depth,
        visible=service.lineage_visibility(session, access.principal),
    )
    return _lineage_out(session, lineage)


@router.get(VERSION + "/lineage", response_model=LineageOut)
def version_lineage(
    project: str,
    name: str,
    version: str,
    direction: Direction = Direction.UPSTREAM,
    depth: int = Query(default=10, gt=0, le=50),
    session: Session = READ_SESSION,
    access: Access = requires(Permission.PROJECT_READ),
) -> LineageOut:
    """What a version was made from (upstream) or what was made from it (downstream)."""
    record = service.get_model_version(
        session, full_name(access, name), version, project_id=access.project_or_fail.id
    )
    root = Node(service.NodeKind.MODEL_VERSION, record.id)
    return _walk(session, access, root, direction, depth)


@router.get("/projects/{project}/lineage", response_model=LineageOut)
def lineage_of(
    project: str,
    kind: str = Query(max_length=32),
    node_id: str = Query(alias="id", max_length=256),
    direction: Direction = Direction.DOWNSTREAM,
    depth: int = Query(default=10, gt=0, le=50),
    session: Session = READ_SESSION,
    access: Access = requires(Permission.PROJECT_READ),
) -> LineageOut:
    """Walk lineage from a node you can read (a dataset version, a run...); nodes in projects
    you cannot read are left out, and a start you cannot read is not found."""
    root = Node.of(kind, node_id)
    service.check_lineage_root(session, access.principal, root)
    return _walk(session, access, root, direction, depth)
