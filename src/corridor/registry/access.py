"""Which projects a principal may read, for references and lineage that cross projects.

A version may name another version (``derived_from``, a ``models:/`` source), a run, a logged
model, dataset versions or a package by digest, and a lineage walk may lead anywhere. Each is
honoured or shown only if the caller could read it anyway, and reported as absent otherwise
(the same 404 as an id that names nothing), so that neither can be used to probe, or copy from,
another team's project.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.errors import NotFound
from corridor.registry.lineage import Node, Visibility
from corridor.registry.owners import node_projects
from corridor.security.models import Membership
from corridor.security.policy import Permission, Principal, Role, role_allows


def readable_project_ids(session: Session, principal: Principal) -> set[str] | None:
    """The ids of the projects ``principal`` may read; None means every project (admins)."""
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
    readable = readable_project_ids(session, principal)
    return readable is None or project_id in readable


def lineage_visibility(session: Session, principal: Principal) -> Visibility:
    """Show a walk only the nodes in projects ``principal`` may read (admins: every node).

    A node that owns nothing (a force-deleted dataset version's tombstone, a kind no slice
    stores yet) is shown: a walk reaches it only through a node the caller may read, and it is
    an id with nothing behind it. What lies beyond it is checked node by node as usual.
    """
    readable = readable_project_ids(session, principal)

    def visible(nodes: Collection[Node]) -> set[Node]:
        if readable is None:
            return set(nodes)
        owners = node_projects(session, nodes)
        return {n for n in nodes if n not in owners or owners[n] in readable}

    return visible


def check_lineage_root(session: Session, principal: Principal, root: Node) -> None:
    """`NotFound` unless ``root`` lives in a project ``principal`` may read (admins: any node).

    A node of another team's project answers exactly as an id that names nothing, so that a
    walk cannot be used to learn that an id exists, let alone what it was made from.
    """
    if principal.is_admin:
        return
    owner = node_projects(session, [root]).get(root)
    if owner is None or not can_read(session, principal, owner):
        raise NotFound(f"lineage node {root.kind.value} {root.id!r} not found")
