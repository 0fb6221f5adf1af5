"""Projects, the tenancy unit, and the roles users hold in them."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from corridor.errors import AlreadyExists, Conflict, NotFound, PermissionDenied
from corridor.names import check_name
from corridor.security.models import Membership, Project, User
from corridor.security.policy import PROJECT_PERMISSIONS, Permission, Principal, Role, role_allows


def create_project(session: Session, name: str, *, description: str, by: Principal) -> Project:
    """Create a project; its creator becomes its admin."""
    check_name("project", name)
    if session.scalar(select(Project.id).where(Project.name == name)) is not None:
        raise AlreadyExists(f"project {name!r} exists already")
    project = Project(name=name, description=description, created_by=by.user_id)
    session.add(project)
    session.flush()
    if by.user_id is not None:
        session.add(Membership(project_id=project.id, user_id=by.user_id, role=Role.ADMIN))
    return project


def role_in(session: Session, project: Project, principal: Principal) -> Role | None:
    if principal.user_id is None:
        return None
    role = session.scalar(
        select(Membership.role).where(
            Membership.project_id == project.id, Membership.user_id == principal.user_id
        )
    )
    return Role(role) if role is not None else None


# Every project route runs it: the project and the caller's role in one statement, built once.
_PROJECT_AND_ROLE = (
    select(Project, Membership.role)
    .outerjoin(
        Membership,
        and_(Membership.project_id == Project.id, Membership.user_id == bindparam("user_id")),
    )
    .where(Project.name == bindparam("name"))
)


def authorize(session: Session, name: str, principal: Principal, permission: Permission) -> Project:
    """Return the project if ``principal`` holds ``permission`` in it.

    A project the principal cannot see at all is reported as absent, so that names of other
    teams' projects do not leak; one it can see but not change is a ``PermissionDenied``.
    """
    assert permission in PROJECT_PERMISSIONS
    found = session.execute(
        _PROJECT_AND_ROLE, {"name": name, "user_id": principal.user_id}
    ).one_or_none()
    if found is None:
        raise NotFound(f"project {name!r} not found")
    project, stored_role = found
    if not principal.is_admin and stored_role is None:
        raise NotFound(f"project {name!r} not found")
    if principal.project_scope is not None and project.id != principal.project_scope:
        # A pipeline run's token: every check of a project, whoever makes it, stays inside
        # (after the visibility check, so that it tells nothing of a hidden project).
        raise PermissionDenied(
            "this token is a pipeline run's: it may act only in that run's project"
        )
    if principal.is_admin:
        return project
    role = Role(stored_role)
    if not role_allows(role, permission):
        raise PermissionDenied(
            f"your role in project {name!r} is {role.value}; this needs {permission.value}"
        )
    return project


def list_projects(session: Session, principal: Principal) -> list[Project]:
    query = select(Project).order_by(Project.name)
    if principal.project_scope is not None:
        query = query.where(Project.id == principal.project_scope)
    if not principal.is_admin:
        query = query.join(Membership, Membership.project_id == Project.id).where(
            Membership.user_id == principal.user_id
        )
    return list(session.scalars(query))


def readable_project_ids(session: Session, principal: Principal) -> set[str] | None:
    """The ids of the projects ``principal`` may read; None means every project (admins).

    References and lineage that cross projects are honoured or shown only where the caller could
    read the other project anyway, so that neither can be used to probe or copy from it.
    """
    if principal.is_admin:
        return None
    if principal.user_id is None:
        return set()
    rows = session.execute(
        select(Membership.project_id, Membership.role).where(
            Membership.user_id == principal.user_id
        )
    )
    return {pid for pid, role in rows if role_allows(Role(role), Permission.PROJECT_READ)}


def can_read(session: Session, principal: Principal, project_id: str) -> bool:
    """Whether ``principal`` may read the project with id ``project_id``."""
    readable = readable_project_ids(session, principal)
    return readable is None or project_id in readable


def list_members(session: Session, project: Project) -> list[tuple[str, Role]]:
    rows = session.execute(
        select(User.name, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project.id)
        .order_by(User.name)
    )
    return [(name, Role(role)) for name, role in rows]


def _user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name!r} not found")
    return user


def grant(session: Session, project: Project, user_name: str, role: Role) -> None:
    """Give ``user_name`` the role ``role`` in ``project`` (replacing any role it had)."""
    user = _user(session, user_name)
    membership = session.scalar(
        select(Membership).where(Membership.project_id == project.id, Membership.user_id == user.id)
    )
    if membership is None:
        session.add(Membership(project_id=project.id, user_id=user.id, role=role))
        return
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _keep_an_admin(session, project, leaving=user.id)
    membership.role = role


def revoke(session: Session, project: Project, user_name: str) -> None:
    user = _user(session, user_name)
    membership = session.scalar(
        select(Membership).where(Membership.project_id == project.id, Membership.user_id == user.id)
    )
    if membership is None:
        raise NotFound(f"user {user_name!r} has no role in project {project.name!r}")
    if membership.role == Role.ADMIN:
        _keep_an_admin(session, project, leaving=user.id)
    session.delete(membership)


def _keep_an_admin(session: Session, project: Project, *, leaving: str) -> None:
    others = session.scalars(
        select(Membership.user_id).where(
            Membership.project_id == project.id,
            Membership.role == Role.ADMIN,
            Membership.user_id != leaving,
        )
    ).first()
    if others is None:
        raise Conflict(f"project {project.name!r} would be left without an admin")


def get_by_id(session: Session, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"project {project_id!r} not found")
    return project


def set_pickle(session: Session, name: str, *, allowed: bool) -> Project:
    """Let Corridor's loaders unpickle the models of project ``name``, or stop them.

    Only a server admin may call this (the route and the CLI check); the request's audit event
    records the project and the new value.
    """
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"project {name!r} not found")
    project.allow_pickle = allowed
    return project


def delete_project(session: Session, project_id: str) -> None:
    session.delete(get_by_id(session, project_id))


# Names shared with MLflow clients (experiments, registered models) are one namespace across
# the server, and a name leads back to its project: "<project>/<rest>" lives in that project
# if it exists, any other name in the project "default", created on demand with no members.
DEFAULT_PROJECT = "default"


def _named_prefix(name: str) -> str | None:
    """The project ``"churn/baseline"`` names (``"churn"``), or None when it names none."""
    prefix, sep, rest = name.partition("/")
    return prefix if sep and rest and prefix != DEFAULT_PROJECT else None


def project_name_for(session: Session, name: str) -> str:
    """The project an MLflow-style ``name`` belongs in, without creating anything.

    The rule is `resolve_project_for_name`'s: the prefix before ``/`` if such a project
    exists, else ``default``.
    """
    prefix = _named_prefix(name)
    if prefix and session.scalar(select(Project.id).where(Project.name == prefix)) is not None:
        return prefix
    return DEFAULT_PROJECT


def resolve_project_for_name(session: Session, name: str) -> Project:
    """The project an MLflow-style ``name`` belongs in, creating ``default`` if needed."""
    prefix = _named_prefix(name)
    if prefix:
        project = session.scalar(select(Project).where(Project.name == prefix))
        if project is not None:
            return project
    project = session.scalar(select(Project).where(Project.name == DEFAULT_PROJECT))
    if project is not None:
        return project
    try:
        # A savepoint, so that losing a race with another creator leaves this session usable.
        with session.begin_nested():
            project = Project(
                name=DEFAULT_PROJECT,
                description="Things whose names name no other project.",
                created_by=None,
            )
            session.add(project)
    except sa_exc.IntegrityError:
        project = session.scalar(select(Project).where(Project.name == DEFAULT_PROJECT))
        assert project is not None
    return project


def qualified_name(project_name: str, name: str) -> str:
    """The full name of ``name`` created through ``project_name`` ("churn" + "fraud")."""
    if project_name == DEFAULT_PROJECT or name.startswith(f"{project_name}/"):
        return name
    return f"{project_name}/{name}"
