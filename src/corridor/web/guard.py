"""The permission every route declares, as a FastAPI dependency.

A route is protected by writing ``access: Access = requires(Permission.X)`` in its signature.
The server's route table is then the policy: a test walks every route and fails on any that has
no ``Guard``, so deny-by-default holds by construction rather than by review.

The guard reads in the request's read session (`corridor.web.sessions`): the token, the thing
the request names, the project and the caller's role, one read transaction in all, which the
route's own queries join when it declares ``session: ReadSession``. The token is read from the
database on every request, so one expired or revoked there is refused on the next request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from corridor.errors import CorridorError, NotFound, PermissionDenied, Unauthenticated
from corridor.runtime import Runtime
from corridor.security import identity, projects
from corridor.security.models import Project
from corridor.security.policy import PROJECT_PERMISSIONS, Permission, Principal
from corridor.web.sessions import REQUEST_READS, RequestReads
from corridor.web.sessions import get_runtime as get_runtime  # re-exported for routes

ANONYMOUS = Principal(user_id=None, name="anonymous", is_admin=False)

# Names the project a request acts in when the path holds something inside it (a run id, say)
# rather than the project's name; raises NotFound if that thing does not exist.
ProjectResolver = Callable[[Request, Session], str]


@dataclass(frozen=True)
class Access:
    """What a guarded route may rely on: who is calling, and the project it acts in."""

    principal: Principal
    project: Project | None = None

    @property
    def project_or_fail(self) -> Project:
        assert self.project is not None, "route guarded without a project permission"
        return self.project


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return value.strip()


def authenticate(request: Request, runtime: Runtime, session: Session | None = None) -> Principal:
    token = bearer_token(request)
    if token is None:
        if runtime.local_admin:
            return Principal.local_admin()
        raise Unauthenticated("this needs a token: send 'Authorization: Bearer <token>'")
    return identity.authenticate_token(runtime.db, token, session=session)


class Guard:
    """Authenticate the request and check that it holds ``permission``."""

    def __init__(
        self,
        permission: Permission,
        *,
        project_param: str = "project",
        project_from: ProjectResolver | None = None,
    ) -> None:
        self.permission = permission
        self.project_param = project_param
        self.project_from = project_from

    def __call__(self, request: Request, reads: RequestReads = REQUEST_READS) -> Access:
        if self.permission is Permission.PUBLIC:
            return Access(principal=ANONYMOUS)
        try:
            principal = authenticate(request, reads.runtime, reads.session)
            request.state.principal = principal
            if principal.job_id is not None and self.permission is not Permission.JOB_WORKER:
                # A job token is its worker's and nothing more (here, so that guards that
                # authorize their own way refuse it too): least privilege for code that runs
                # wherever the scheduler put it.
                raise PermissionDenied("a job token can only be used by its job's worker routes")
            return self._authorize(request, reads, principal)
        except (Unauthenticated, PermissionDenied, NotFound) as exc:
            # The audit middleware records every refusal, including the 404 that hides a
            # project from someone outside it.
            request.state.denied = exc.message
            raise
        finally:
            reads.release_unless_wanted()

    def _authorize(self, request: Request, reads: RequestReads, principal: Principal) -> Access:
        if principal.project_scope is not None:
            _check_scope(request, self.permission)
        if self.permission is Permission.JOB_WORKER:
            return Access(principal=_job_worker(request, principal))
        if self.permission is Permission.AUTHENTICATED:
            return Access(principal=principal)
        if self.permission is Permission.SERVER_ADMIN:
            identity.require_admin(principal)
            return Access(principal=principal)
        if self.permission in PROJECT_PERMISSIONS:
            session = reads.session
            name: str | None
            if self.project_from is not None:
                name = self.project_from(request, session)
            else:
                name = request.path_params.get(self.project_param)
            if not isinstance(name, str):
                raise CorridorError(f"route guarded by {self.permission} has no project")
            project = detached(
                session, projects.authorize(session, name, principal, self.permission)
            )
            return Access(principal=principal, project=project)
        raise CorridorError(f"no rule for permission {self.permission}")


# What a project-scoped token (a pipeline run's) may call: reads and writes in its project, and
# routes open to any caller that change nothing (not a new token, not a new project).
_SCOPED = frozenset({Permission.PROJECT_READ, Permission.PROJECT_WRITE})
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def _check_scope(request: Request, permission: Permission) -> None:
    if permission in _SCOPED:
        return
    if permission is Permission.AUTHENTICATED and request.method in _SAFE_METHODS:
        return
    raise PermissionDenied(
        "this token is a pipeline run's: it may read and write in that run's project only "
        "(no administration, new tokens or projects, or other projects)"
    )


def _job_worker(request: Request, principal: Principal) -> Principal:
    """The job token of the attempt the path names (``job_id``, ``attempt``), or 403."""
    if principal.job_id is None:
        raise PermissionDenied("only a job's worker, with its job token, may call this route")
    attempt = request.path_params.get("attempt")
    if principal.job_id != request.path_params.get("job_id") or str(principal.job_attempt) != str(
        attempt
    ):
        raise PermissionDenied("this job token belongs to another job or attempt")
    return principal


def detached(session: Session, project: Project) -> Project:
    """``project`` out of the request's read session, as if that session had closed.

    Routes hand it to their write sessions (a new experiment's project, say), and an object
    still attached to another open session cannot be.
    """
    if project in session:
        session.expunge(project)
    return project


def requires(
    permission: Permission,
    *,
    project_param: str = "project",
    project_from: ProjectResolver | None = None,
) -> Any:
    """Declare the permission a route needs (use as a parameter default).

    Project permissions are checked in the project named by the path parameter
    ``project_param``, or in the one ``project_from`` finds for the request.
    """
    return Depends(Guard(permission, project_param=project_param, project_from=project_from))
