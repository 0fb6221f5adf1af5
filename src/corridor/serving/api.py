"""HTTP routes of the serving control plane under /api/v1/projects/{project}/deployments...

Reads need ``project:read`` (a viewer); every change ``project:write`` (an editor). Each change
is one transaction with its audit event (`corridor.web.sessions`); a refused request writes
nothing. The inference routes themselves are the gateway's (`corridor.serving.gateway`), not
these.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from corridor.compute.site_table import current_sites
from corridor.security.policy import Permission
from corridor.serving import service
from corridor.serving.schemas import DeployIn, DeploymentOut, RevisionOut, RollbackIn, ScaleIn
from corridor.web.guard import Access, get_runtime, requires
from corridor.web.sessions import ReadSession, WriteRoute, WriteSession

router = APIRouter(prefix="/api/v1", tags=["serving"], route_class=WriteRoute)

DEPLOYMENTS = "/projects/{project}/deployments"
DEPLOYMENT = DEPLOYMENTS + "/{name}"


def deployment_project(request: Request, session: Session) -> str:
    """The project of the deployment named in the path (for the guard); 404 if none."""
    return service.project_of(session, str(request.path_params.get("name", ""))).name


@router.post(DEPLOYMENTS, response_model=DeploymentOut, status_code=201)
def deploy(
    project: str,
    body: DeployIn,
    request: Request,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> DeploymentOut:
    """Create a deployment, or redeploy it as its next revision. It answers at
    ``/v2/models/{name}/infer`` once a replica is up (``/v2/models/{name}/ready``)."""
    sites = current_sites(get_runtime(request).settings)
    return service.deploy(
        session, access.project_or_fail, body, actor=access.principal.name, sites=sites
    )


@router.get(DEPLOYMENTS, response_model=list[DeploymentOut])
def list_deployments(
    project: str,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> list[DeploymentOut]:
    """The project's deployments by name, each with the spec it serves now."""
    return service.list_deployments(session, access.project_or_fail)


@router.get(DEPLOYMENT, response_model=DeploymentOut)
def show_deployment(
    project: str,
    name: str,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> DeploymentOut:
    """One deployment: its spec, status, paths and revisions (newest first)."""
    return service.show(session, access.project_or_fail, name)


@router.delete(DEPLOYMENT, status_code=204)
def delete_deployment(
    project: str,
    name: str,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> Response:
    """Stop serving and delete the deployment with its revisions."""
    service.delete(session, access.project_or_fail, name)
    return Response(status_code=204)


@router.post(DEPLOYMENT + "/scale", response_model=DeploymentOut)
def scale_deployment(
    project: str,
    name: str,
    body: ScaleIn,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> DeploymentOut:
    """A fixed replica count (autoscaling off), or autoscaling bounds: a new revision."""
    return service.scale(session, access.project_or_fail, name, body, actor=access.principal.name)


@router.post(DEPLOYMENT + "/rollback", response_model=DeploymentOut)
def rollback_deployment(
    project: str,
    name: str,
    body: RollbackIn,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> DeploymentOut:
    """Serve an earlier revision's spec again, as a new revision (default: the one before)."""
    return service.rollback(
        session,
        access.project_or_fail,
        name,
        to_revision=body.to_revision,
        actor=access.principal.name,
    )


@router.get(DEPLOYMENT + "/revisions", response_model=list[RevisionOut])
def list_revisions(
    project: str,
    name: str,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> list[RevisionOut]:
    """Every revision of the deployment, newest first."""
    return service.list_revisions(session, access.project_or_fail, name)


@router.get("/deployments/{name}", response_model=DeploymentOut)
def find_deployment(
    name: str,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ, project_from=deployment_project),
) -> DeploymentOut:
    """A deployment by its name alone (names are unique across the server), for callers that
    do not know its project; 404 for one in a project the caller cannot read."""
    return service.show(session, access.project_or_fail, name)


@router.get("/deployments", response_model=list[DeploymentOut])
def list_all_deployments(
    session: ReadSession,
    access: Access = requires(Permission.AUTHENTICATED),
) -> list[DeploymentOut]:
    """The deployments of every project the caller may read, by name."""
    return service.list_readable(session, access.principal)
