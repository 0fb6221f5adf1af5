"""HTTP routes of the model registry under /api/v1 (thin: each calls `service`).

Reads need ``project:read``, creating and changing need ``project:write`` (tags and aliases,
including deleting them, are changes), and deleting a model or a version needs
``project:admin``, as MLflow keeps deletes to its MANAGE permission. Route order matters: see
`corridor.registry.routing`.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.registry import service
from corridor.registry.api_packages import router as packages_router
from corridor.registry.api_signatures import router as signatures_router
from corridor.registry.api_versions import router as versions_router
from corridor.registry.routing import MODEL, full_name
from corridor.registry.schemas import (
    AliasSet,
    ModelCreate,
    ModelPage,
    ModelUpdate,
    ModelVersionOut,
    RegisteredModelOut,
    TagSet,
)
from corridor.security.policy import Permission
from corridor.security.projects import qualified_name
from corridor.web.guard import Access, requires
from corridor.web.sessions import READ_SESSION, ReadSession, WriteRoute, WriteSession

router = APIRouter(prefix="/api/v1", tags=["registry"], route_class=WriteRoute)
router.include_router(packages_router)
router.include_router(signatures_router)
router.include_router(versions_router)


def _project_id(access: Access) -> str:
    return access.project_or_fail.id


@router.get("/projects/{project}/models", response_model=ModelPage)
def list_models(
    project: str,
    request: Request,
    filter_string: str = Query(default="", alias="filter", max_length=2000),
    order_by: list[str] = Query(default=[], max_length=10),
    max_results: int = Query(default=100, gt=0, le=1000),
    page_token: str | None = Query(default=None, max_length=2000),
    session: Session = READ_SESSION,
    access: Access = requires(Permission.PROJECT_READ),
) -> ModelPage:
    """Search this project's models (MLflow's filter: name LIKE '%x%', tags.k = 'v'...)."""
    page = service.search_registered_models(
        session,
        project_ids={_project_id(access)},
        filter_string=filter_string,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
    )
    return ModelPage(
        models=[RegisteredModelOut.of(m) for m in page.items], next_page_token=page.next_page_token
    )


@router.post("/projects/{project}/models", response_model=RegisteredModelOut, status_code=201)
def create_model(
    project: str,
    body: ModelCreate,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> RegisteredModelOut:
    """Create a model; its name is qualified with the project ('fraud' -> 'churn/fraud')."""
    record = service.create_registered_model(
        session,
        access.project_or_fail,
        full_name(access, body.name),
        description=body.description,
        tags=body.tags,
    )
    return RegisteredModelOut.of(record)


@router.get(MODEL + "/aliases/{alias}", response_model=ModelVersionOut)
def get_alias(
    project: str,
    name: str,
    alias: str,
    request: Request,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> ModelVersionOut:
    record = service.get_model_version_by_alias(
        session, full_name(access, name), alias, project_id=_project_id(access)
    )
    return ModelVersionOut.of(record)


@router.put(MODEL + "/aliases/{alias}", response_model=ModelVersionOut)
def set_alias(
    project: str,
    name: str,
    alias: str,
    body: AliasSet,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> ModelVersionOut:
    """Point an alias at a version (moving it if it pointed elsewhere)."""
    record = service.set_registered_model_alias(
        session, full_name(access, name), alias, body.version, project_id=_project_id(access)
    )
    return ModelVersionOut.of(record)


@router.delete(MODEL + "/aliases/{alias}", status_code=204)
def delete_alias(
    project: str,
    name: str,
    alias: str,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> Response:
    service.delete_registered_model_alias(
        session, full_name(access, name), alias, project_id=_project_id(access)
    )
    return Response(status_code=204)


@router.put(MODEL + "/tags", status_code=204)
def set_model_tag(
    project: str,
    name: str,
    body: TagSet,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> Response:
    service.set_registered_model_tag(
        session, full_name(access, name), body.key, body.value, project_id=_project_id(access)
    )
    return Response(status_code=204)


@router.delete(MODEL + "/tags", status_code=204)
def delete_model_tag(
    project: str,
    name: str,
    session: WriteSession,
    key: str = Query(max_length=250),
    access: Access = requires(Permission.PROJECT_WRITE),
) -> Response:
    service.delete_registered_model_tag(
        session, full_name(access, name), key, project_id=_project_id(access)
    )
    return Response(status_code=204)


# The bare model routes come last: their name parameter would also match the longer paths.
@router.get(MODEL, response_model=RegisteredModelOut)
def get_model(
    project: str,
    name: str,
    request: Request,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> RegisteredModelOut:
    record = service.get_registered_model(
        session, full_name(access, name), project_id=_project_id(access)
    )
    return RegisteredModelOut.of(record)


@router.patch(MODEL, response_model=RegisteredModelOut)
def update_model(
    project: str,
    name: str,
    body: ModelUpdate,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> RegisteredModelOut:
    """Change the description and/or rename (the new name is qualified like a new model's)."""
    if body.description is None and body.name is None:
        raise InvalidInput("give a description, a name, or both")
    current = full_name(access, name)
    if body.name is not None:
        new = qualified_name(access.project_or_fail.name, body.name)
        current = service.rename_registered_model(
            session, current, new, project_id=_project_id(access)
        ).name
    record = (
        service.update_registered_model(
            session, current, description=body.description, project_id=_project_id(access)
        )
        if body.description is not None
        else service.get_registered_model(session, current, project_id=_project_id(access))
    )
    return RegisteredModelOut.of(record)


@router.delete(MODEL, status_code=204)
def delete_model(
    project: str,
    name: str,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_ADMIN),
) -> Response:
    """Delete a model with every version, tag and alias (package blobs stay: they are shared)."""
    service.delete_registered_model(
        session, full_name(access, name), project_id=_project_id(access)
    )
    return Response(status_code=204)
