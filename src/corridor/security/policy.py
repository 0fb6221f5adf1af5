"""Who may do what: roles, permissions and the principal a request acts as. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


class Permission(StrEnum):
    """What a route needs. Every route names exactly one."""

    PUBLIC = "public"  # no credential; only for the allowlisted routes
    AUTHENTICATED = "authenticated"  # any valid credential
    PROJECT_READ = "project:read"
    PROJECT_WRITE = "project:write"
    PROJECT_ADMIN = "project:admin"
    # Call a deployment's inference routes (editors and admins, or a token made for it).
    DEPLOYMENT_INVOKE = "deployment:invoke"
    SERVER_ADMIN = "server:admin"
    # Only a job token, and only for its own job and attempt (the worker's routes).
    JOB_WORKER = "job:worker"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.PROJECT_READ}),
    Role.EDITOR: frozenset(
        {Permission.PROJECT_READ, Permission.PROJECT_WRITE, Permission.DEPLOYMENT_INVOKE}
    ),
    Role.ADMIN: frozenset(
        {
            Permission.PROJECT_READ,
            Permission.PROJECT_WRITE,
            Permission.PROJECT_ADMIN,
            Permission.DEPLOYMENT_INVOKE,
        }
    ),
}

PROJECT_PERMISSIONS = frozenset(
    {Permission.PROJECT_READ, Permission.PROJECT_WRITE, Permission.PROJECT_ADMIN}
)

LOCAL_ADMIN_NAME = "local-admin"


@dataclass(frozen=True)
class Principal:
    """The identity a request acts as."""

    user_id: str | None
    name: str
    is_admin: bool
    token_id: str | None = None
    # Set for a job token: the job and attempt whose worker it is; such a principal may call
    # nothing but that attempt's worker routes.
    job_id: str | None = None
    job_attempt: int | None = None
    # Set for a pipeline run's token: the one project (id) it may read and write in, with its
    # user's role there; it may not administer, create tokens or projects, or invoke.
    project_scope: str | None = None

    @classmethod
    def local_admin(cls) -> Principal:
        """The operator on the machine that holds the home: file access is the credential."""
        return cls(user_id=None, name=LOCAL_ADMIN_NAME, is_admin=True)


def role_allows(role: Role | None, permission: Permission) -> bool:
    return role is not None and permission in ROLE_PERMISSIONS[role]
