from __future__ import annotations

import pytest

from corridor.errors import AlreadyExists, Conflict, NotFound, PermissionDenied
from corridor.security import identity, projects
from corridor.security.policy import Permission, Principal, Role
from corridor.store.db import Database


def _setup(db: Database) -> dict[str, Principal]:
    people = {}
    with db.write() as session:
        for name in ("alice", "bob", "eve"):
            user = identity.create_user(session, name)
            people[name] = Principal(user_id=user.id, name=name, is_admin=False)
        p = projects.create_project(session, "p", description="", by=people["alice"])
        projects.grant(session, p, "bob", Role.VIEWER)
    return people


def test_creator_is_admin_and_roles_limit_permissions(db: Database) -> None:
    people = _setup(db)
    with db.read() as session:
        assert projects.authorize(session, "p", people["alice"], Permission.PROJECT_ADMIN)
        assert projects.authorize(session, "p", people["bob"], Permission.PROJECT_READ)
        with pytest.raises(PermissionDenied, match="viewer"):
            projects.authorize(session, "p", people["bob"], Permission.PROJECT_WRITE)
        # Outsiders cannot tell a hidden project from a missing one.
        with pytest.raises(NotFound, match="'p' not found"):
            projects.authorize(session, "p", people["eve"], Permission.PROJECT_READ)
        with pytest.raises(NotFound, match="'zz' not found"):
            projects.authorize(session, "zz", people["eve"], Permission.PROJECT_READ)
        assert [p.name for p in projects.list_projects(session, people["eve"])] == []
        admin = Principal.local_admin()
        assert projects.authorize(session, "p", admin, Permission.PROJECT_ADMIN)


def test_the_last_admin_cannot_leave(db: Database) -> None:
    _setup(db)
    root = Principal.local_admin()
    with db.write() as session:
        project = projects.authorize(session, "p", root, Permission.PROJECT_ADMIN)
        with pytest.raises(Conflict, match="without an admin"):
            projects.grant(session, project, "alice", Role.EDITOR)
    with db.read() as session:
        assert ("alice", Role.ADMIN) in projects.list_members(session, project)


def test_duplicate_project_is_refused(db: Database) -> None:
    people = _setup(db)
    with pytest.raises(AlreadyExists), db.write() as session:
        projects.create_project(session, "p", description="", by=people["bob"])
