"""HTTP routes of model versions: list, register, read, describe, tag, stage and delete.

Included by `corridor.registry.api` before its bare model routes (see `routing`).
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from corridor.registry import service
from corridor.registry.manifest import ManifestFields
from corridor.registry.routing import MODEL, VERSION, full_name
from corridor.registry.schemas import (
    ModelVersionOut,
    StageChange,
    TagSet,
    VersionCreate,
    VersionPage,
    VersionUpdate,
)
from corridor.security.policy import Permission
from corridor.web.guard import Access, get_runtime, requires
from corridor.web.sessions import READ_SESSION, ReadSession, WriteRoute, WriteSession

router = APIRouter(tags=["registry"], route_class=WriteRoute)


def _project_id(access: Access) -> str:
    return access.project_or_fail.id


@router.get(MODEL + "/versions", response_model=VersionPage)
def list_versions(
    project: str,
    name: str,
    request: Request,
    filter_string: str = Query(default="", alias="filter", max_length=2000),
    order_by: list[str] = Query(default=[], max_length=10),
    max_results: int = Query(default=1000, gt=0, le=10_000),
    page_token: str | None = Query(default=None, max_length=2000),
    session: Session = READ_SESSION,
    access: Access = requires(Permission.PROJECT_READ),
) -> VersionPage:
    """The model's versions, newest first (a filter narrows them further)."""
    model = full_name(access, name)
    escaped = model.replace("'", "''")
    narrowed = f"name = '{escaped}'" + (f" AND {filter_string}" if filter_string.strip() else "")
    service.get_registered_model(session, model, project_id=_project_id(access))
    page = service.search_model_versions(
        session,
        project_ids={_project_id(access)},
        filter_string=narrowed,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
    )
    return VersionPage(
        versions=[ModelVersionOut.of(v) for v in page.items], next_page_token=page.next_page_token
    )


@router.post(MODEL + "/versions", response_model=ModelVersionOut, status_code=201)
def create_version(
    project: str,
    name: str,
    body: VersionCreate,
    request: Request,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> ModelVersionOut:
    """Register a version: a package of uploaded files, a package digest, or a source."""
    runtime = get_runtime(request)
    package = None
    if body.package is not None:
        fields = ManifestFields.model_validate(body.package.model_dump(exclude={"files"}))
        package = service.NewPackage(fields, body.package.files)
    record = service.create_model_version(
        session,
        runtime.blobs,
        full_name(access, name),
        by=access.principal,
        source=body.source,
        package_digest=body.package_digest,
        package=package,
        run_id=body.run_id,
        run_link=body.run_link,
        model_id=body.model_id,
        description=body.description,
        tags=body.tags,
        project_id=_project_id(access),
    )
    return ModelVersionOut.of(record)


@router.put(VERSION + "/tags", status_code=204)
def set_version_tag(
    project: str,
    name: str,
    version: str,
    body: TagSet,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> Response:
    service.set_model_version_tag(
        session,
        full_name(access, name),
        version,
        body.key,
        body.value,
        project_id=_project_id(access),
    )
    return Response(status_code=204)


@router.delete(VERSION + "/tags", status_code=204)
def delete_version_tag(
    project: str,
    name: str,
    version: str,
    session: WriteSession,
    key: str = Query(max_length=250),
    access: Access = requires(Permission.PROJECT_WRITE),
) -> Response:
    service.delete_model_version_tag(
        session, full_name(access, name), version, key, project_id=_project_id(access)
    )
    return Response(status_code=204)


@router.post(VERSION + "/stage", response_model=ModelVersionOut)
def transition_stage(
    project: str,
    name: str,
    version: str,
    body: StageChange,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> ModelVersionOut:
    """Move a version to an MLflow stage (None, Staging, Production, Archived)."""
    record = service.transition_model_version_stage(
        session,
        full_name(access, name),
        version,
        body.stage,
        archive_existing_versions=body.archive_existing_versions,
        project_id=_project_id(access),
    )
    return ModelVersionOut.of(record)


@router.get(VERSION, response_model=ModelVersionOut)
def get_version(
    project: str,
    name: str,
    version: str,
    request: Request,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> ModelVersionOut:
    record = service.get_model_version(
        session, full_name(access, name), version, project_id=_project_id(access)
    )
    return ModelVersionOut.of(record)


@router.patch(VERSION, response_model=ModelVersionOut)
def update_version(
    project: str,
    name: str,
    version: str,
    body: VersionUpdate,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> ModelVersionOut:
    """Change a version's description; nothing else about a version changes."""
    record = service.update_model_version(
        session,
        full_name(access, name),
        version,
        description=body.description,
        project_id=_project_id(access),
    )
    return ModelVersionOut.of(record)


@router.delete(VERSION, status_code=204)
def delete_version(
    project: str,
    name: str,
    version: str,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_ADMIN),
) -> Response:
    """Delete a version and its aliases; its number is never given again."""
    service.delete_model_version(
        session, full_name(access, name), version, project_id=_project_id(access)
    )
    return Response(status_code=204)
