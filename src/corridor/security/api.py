"""HTTP routes of the security core: login, users, tokens, projects, roles and the audit log."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query, Request, Response

from corridor.errors import InvalidInput, PermissionDenied
from corridor.security import audit, identity, projects
from corridor.security.models import Token
from corridor.security.policy import Permission
from corridor.security.schemas import (
    AuditEventOut,
    AuditVerifyOut,
    IssuedTokenOut,
    LoginRequest,
    MemberOut,
    PickleSwitch,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
    RoleGrant,
    TokenCreate,
    TokenOut,
    UserCreate,
    UserOut,
    WhoAmI,
)
from corridor.web.guard import Access, get_runtime, requires
from corridor.web.sessions import ReadSession, WriteRoute, WriteSession, note_audit_detail

router = APIRouter(prefix="/api/v1", route_class=WriteRoute)
LOGIN_TTL = dt.timedelta(hours=12)


@router.post("/auth/login", response_model=IssuedTokenOut, tags=["auth"])
def login(
    body: LoginRequest,
    request: Request,
    session: WriteSession,
    access: Access = requires(Permission.PUBLIC),
) -> IssuedTokenOut:
    """Exchange a user name and password for a token that lasts 12 hours."""
    request.state.actor = body.username
    issued = identity.login(session, body.username, body.password, ttl=LOGIN_TTL)
    return _issued(issued)


@router.get("/auth/whoami", response_model=WhoAmI, tags=["auth"])
def whoami(access: Access = requires(Permission.AUTHENTICATED)) -> WhoAmI:
    return WhoAmI(name=access.principal.name, is_admin=access.principal.is_admin)


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
def create_user(
    body: UserCreate, session: WriteSession, access: Access = requires(Permission.SERVER_ADMIN)
) -> UserOut:
    user = identity.create_user(session, body.name, password=body.password, is_admin=body.is_admin)
    return UserOut.model_validate(user)


@router.get("/users", response_model=list[UserOut], tags=["users"])
def list_users(
    request: Request, access: Access = requires(Permission.SERVER_ADMIN)
) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in identity.list_users(get_runtime(request).db)]


@router.post("/tokens", response_model=IssuedTokenOut, status_code=201, tags=["tokens"])
def create_token(
    body: TokenCreate,
    request: Request,
    session: WriteSession,
    access: Access = requires(Permission.AUTHENTICATED),
) -> IssuedTokenOut:
    """Create an API token for yourself (admins: for anyone); with ``invoke``, one that may
    invoke that deployment and nothing else."""
    runtime = get_runtime(request)
    principal = access.principal
    if body.never_expires and body.ttl_days is not None:
        raise InvalidInput("give ttl_days or never_expires, not both")
    ttl = (
        None
        if body.never_expires
        else dt.timedelta(days=body.ttl_days or runtime.settings.token_ttl_days)
    )
    if body.user is not None and body.user != principal.name:
        if not principal.is_admin:
            raise PermissionDenied("only a server administrator creates tokens for others")
        owner = identity.get_user(session, body.user)
    elif principal.user_id is None:
        raise InvalidInput("the local administrator has no user: name one with 'user'")
    else:
        owner = identity.get_user(session, principal.name)
    issued = identity.issue_token(
        session, owner, name=body.name, ttl=ttl, invoke_deployment=body.invoke
    )
    return _issued(issued)


@router.get("/tokens", response_model=list[TokenOut], tags=["tokens"])
def list_tokens(
    request: Request,
    all_users: bool = Query(default=False, alias="all"),
    access: Access = requires(Permission.AUTHENTICATED),
) -> list[TokenOut]:
    """List your tokens; admins may pass ``all=true`` to see everyone's."""
    if all_users and not access.principal.is_admin:
        raise PermissionDenied("only a server administrator lists everyone's tokens")
    user_id = None if all_users else access.principal.user_id
    rows = identity.list_tokens(get_runtime(request).db, user_id=user_id)
    return [_token(t, owner) for t, owner in rows]


@router.delete("/tokens/{token_id}", response_model=TokenOut, tags=["tokens"])
def revoke_token(
    token_id: str, session: WriteSession, access: Access = requires(Permission.AUTHENTICATED)
) -> TokenOut:
    token = identity.revoke_token(session, token_id, by=access.principal)
    owner = identity.user_name(session, token.user_id)
    return _token(token, owner)


@router.post("/projects", response_model=ProjectOut, status_code=201, tags=["projects"])
def create_project(
    body: ProjectCreate, session: WriteSession, access: Access = requires(Permission.AUTHENTICATED)
) -> ProjectOut:
    """Create a project; you become its admin."""
    project = projects.create_project(
        session, body.name, description=body.description, by=access.principal
    )
    return ProjectOut.model_validate(project)


@router.get("/projects", response_model=list[ProjectOut], tags=["projects"])
def list_projects(
    request: Request, session: ReadSession, access: Access = requires(Permission.AUTHENTICATED)
) -> list[ProjectOut]:
    found = projects.list_projects(session, access.principal)
    return [ProjectOut.model_validate(p) for p in found]


@router.get("/projects/{project}", response_model=ProjectOut, tags=["projects"])
def get_project(project: str, access: Access = requires(Permission.PROJECT_READ)) -> ProjectOut:
    return ProjectOut.model_validate(access.project)


@router.patch("/projects/{project}", response_model=ProjectOut, tags=["projects"])
def update_project(
    project: str,
    body: ProjectUpdate,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> ProjectOut:
    found = projects.get_by_id(session, access.project_or_fail.id)
    found.description = body.description
    return ProjectOut.model_validate(found)


@router.put("/projects/{project}/pickle", response_model=ProjectOut, tags=["projects"])
def set_project_pickle(
    project: str,
    body: PickleSwitch,
    request: Request,
    session: WriteSession,
    access: Access = requires(Permission.SERVER_ADMIN),
) -> ProjectOut:
    """Let Corridor's loaders unpickle this project's models, or stop them (server admins)."""
    note_audit_detail(request, project=project, allow_pickle=body.allowed)
    found = projects.set_pickle(session, project, allowed=body.allowed)
    return ProjectOut.model_validate(found)


@router.delete("/projects/{project}", status_code=204, tags=["projects"])
def delete_project(
    project: str, session: WriteSession, access: Access = requires(Permission.PROJECT_ADMIN)
) -> Response:
    projects.delete_project(session, access.project_or_fail.id)
    return Response(status_code=204)


@router.get("/projects/{project}/members", response_model=list[MemberOut], tags=["projects"])
def list_members(
    project: str,
    request: Request,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> list[MemberOut]:
    members = projects.list_members(session, access.project_or_fail)
    return [MemberOut(user=name, role=role) for name, role in members]


@router.put("/projects/{project}/members/{user}", response_model=MemberOut, tags=["projects"])
def grant_role(
    project: str,
    user: str,
    body: RoleGrant,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_ADMIN),
) -> MemberOut:
    projects.grant(session, access.project_or_fail, user, body.role)
    return MemberOut(user=user, role=body.role)


@router.delete("/projects/{project}/members/{user}", status_code=204, tags=["projects"])
def revoke_role(
    project: str,
    user: str,
    session: WriteSession,
    access: Access = requires(Permission.PROJECT_ADMIN),
) -> Response:
    projects.revoke(session, access.project_or_fail, user)
    return Response(status_code=204)


@router.get("/audit", response_model=list[AuditEventOut], tags=["audit"])
def list_audit(
    request: Request,
    limit: int = Query(default=100, gt=0, le=1000),
    after: int | None = Query(default=None, ge=0),
    actor: str | None = Query(default=None, max_length=128),
    action: str | None = Query(default=None, max_length=128),
    access: Access = requires(Permission.SERVER_ADMIN),
) -> list[AuditEventOut]:
    events = audit.list_events(
        get_runtime(request).db, limit=limit, after_seq=after, actor=actor, action=action
    )
    return [AuditEventOut.model_validate(e) for e in events]


@router.get("/audit/verify", response_model=AuditVerifyOut, tags=["audit"])
def verify_audit(
    request: Request, access: Access = requires(Permission.SERVER_ADMIN)
) -> AuditVerifyOut:
    report = audit.verify(get_runtime(request).db)
    return AuditVerifyOut.model_validate(report)


def _issued(issued: identity.IssuedToken) -> IssuedTokenOut:
    t = issued.token
    return IssuedTokenOut(
        id=t.id,
        name=t.name,
        token=issued.secret,
        expires_at=t.expires_at,
        invoke=t.invoke_deployment,
    )


def _token(token: Token, owner: str) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        user=owner,
        prefix=token.prefix,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
        invoke=token.invoke_deployment,
    )
