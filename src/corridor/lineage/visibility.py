"""What a principal may see of lineage that crosses projects.

A lineage walk may lead anywhere. A node is shown only if the caller could read it anyway, and
a root the caller could not read is reported as absent (the same 404 as an id that names
nothing), so that a walk cannot be used to probe another team's project.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from corridor.errors import NotFound
from corridor.lineage.graph import Node, Visibility
from corridor.lineage.owners import node_projects
from corridor.security.policy import Principal
from corridor.security.projects import can_read, readable_project_ids


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
