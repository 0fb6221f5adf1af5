"""Which projects a principal may read, for references that cross projects.

A version may name another version (``derived_from``, a ``models:/`` source) or a package by
digest. Those are honoured only if the caller could read them anyway, and reported as absent
otherwise, so that a reference cannot be used to probe, or copy from, another team's project.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.registry.lineage import Node, NodeKind, Visibility
from corridor.registry.models import ModelVersion, RegisteredModel
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
    """Hide model versions in projects ``principal`` cannot read from a lineage walk.

    Nodes of other kinds are shown: their slices add their own checks when they have any.
    """
    readable = readable_project_ids(session, principal)

    def visible(nodes: Collection[Node]) -> set[Node]:
        versions = [n for n in nodes if n.kind is NodeKind.MODEL_VERSION]
        shown = {n for n in nodes if n.kind is not NodeKind.MODEL_VERSION}
        ids = sorted(n.id for n in versions)
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            query = (
                select(ModelVersion.id)
                .join(RegisteredModel, RegisteredModel.id == ModelVersion.registered_model_id)
                .where(ModelVersion.id.in_(ids[i : i + 500]))
            )
            if readable is not None:
                query = query.where(RegisteredModel.project_id.in_(sorted(readable)))
            found.update(session.scalars(query))
        return shown | {n for n in versions if n.id in found}

    return visible
