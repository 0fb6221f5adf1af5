"""HTTP routes that delete dataset versions and datasets (`corridor.data.deletion`).

Deleting needs ``project:admin``, not the ``project:write`` that ingesting needs: versions are
immutable so that others can build on them, a delete cannot be undone once the blob sweep has
run, and the registry keeps its deletes to admins too (as MLflow keeps them to MANAGE).
Included by `corridor.data.api`.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from corridor.data import deletion
from corridor.data.delete_schemas import DeletedOut
from corridor.data.paths import DATASET, VERSION
from corridor.data.sansio.refs import parse_version
from corridor.errors import InvalidInput
from corridor.security.policy import Permission
from corridor.web.guard import Access, requires
from corridor.web.sessions import WriteRoute, WriteSession

router = APIRouter(tags=["data"], route_class=WriteRoute)
FORCE = Query(False, description="delete even what others depend on (lineage keeps its id)")


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


@router.delete(VERSION, response_model=DeletedOut)
def delete_version(
    project: str,
    name: str,
    version: str,
    request: Request,
    session: WriteSession,
    force: bool = FORCE,
    access: Access = requires(Permission.PROJECT_ADMIN),
) -> DeletedOut:
    """Delete one version; its number is never given again. `409` names what depends on it."""
    number = parse_version(version)
    if number is None:
        # A delete must hit exactly the version the caller looked at, not whatever is newest now.
        raise InvalidInput(f"name the version to delete by its number ({name}@3), not 'latest'")
    return deletion.delete_version(
        session,
        access.project_or_fail,
        name,
        number,
        force=force,
        by=access.principal,
        request_id=_request_id(request),
    )


@router.delete(DATASET, response_model=DeletedOut)
def delete_dataset(
    project: str,
    name: str,
    request: Request,
    session: WriteSession,
    force: bool = FORCE,
    access: Access = requires(Permission.PROJECT_ADMIN),
) -> DeletedOut:
    """Delete a dataset with all its versions; re-ingesting the name continues its numbers."""
    return deletion.delete_dataset(
        session,
        access.project_or_fail,
        name,
        force=force,
        by=access.principal,
        request_id=_request_id(request),
    )
