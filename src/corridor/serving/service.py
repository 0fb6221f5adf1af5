"""The serving control plane's services: what the API, the CLI and ``corridor serve`` call.

Every function takes an open session (``Database.write()`` or a route's ``WriteSession`` for
changes, ``read()`` for queries) and the project it acts in; a deployment of another project is
reported as absent. A change resolves and checks everything first, then writes one new
revision (`corridor.serving.deployments`), so a refused request writes nothing. When the
session commits, the serving plane of this process hears of it at once
(`corridor.serving.changes`); the controller of any other process notices within its poll.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import event
from sqlalchemy.orm import Session

from corridor.errors import Conflict, InvalidInput
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.security.projects import readable_project_ids
from corridor.serving import changes, deployments
from corridor.serving.deployments import (
    DeploymentRow,
    check_name,
    current_spec,
    list_deployments,
    list_revisions,
    live,
    paths,
    project_of,
    set_status,
    show,
)
from corridor.serving.refs import still_served
from corridor.serving.sansio.graphs import members_of, validate_graphs
from corridor.serving.schemas import DeployIn, DeploymentOut, ScaleIn
from corridor.serving.spec import Graph
from corridor.serving.specs import spec_for_deploy, spec_for_scale

__all__ = [
    "DeploymentRow",
    "check_name",
    "current_spec",
    "delete",
    "deploy",
    "list_deployments",
    "list_readable",
    "list_revisions",
    "live",
    "paths",
    "project_of",
    "rollback",
    "scale",
    "set_status",
    "show",
]


def _notify_after_commit(session: Session) -> None:
    """Tell this process's serving controllers about the change once ``session`` commits."""

    def committed(_: Session) -> None:
        changes.notify()

    event.listen(session, "after_commit", committed, once=True)


def _check_graph(session: Session, project: Project, name: str, graph: Graph) -> None:
    """Every member is a deployment of ``project``, and the graphs of the server, with this
    one as given, are valid together (no cycle, no nesting past the limit)."""
    found = {d.name: d for d in live(session)}
    for member in members_of(graph):
        if member == name:
            raise InvalidInput(f"graph {name!r} names itself; a graph calls other deployments")
        if member not in found or found[member].project_id != project.id:
            raise InvalidInput(
                f"graph {name!r} calls {member!r}, which is not a deployment of project "
                f"{project.name!r}: deploy it first"
            )
    specs: dict[str, Graph | None] = {n: d.spec.graph for n, d in found.items()}
    specs[name] = graph
    validate_graphs(specs)


def deploy(
    session: Session,
    project: Project,
    body: DeployIn,
    *,
    actor: str,
    sites: Collection[str] | None = None,
) -> DeploymentOut:
    """Create deployment ``body.name``, or write its next revision: one transaction.

    ``sites``: the compute sites configured, if known; a placement naming another is refused.
    """
    check_name(body.name)
    spec, versions = spec_for_deploy(session, project, body)
    site = spec.placement.site
    if sites is not None and site is not None and site not in sites:
        known = ", ".join(sorted(sites)) or "none"
        raise InvalidInput(
            f"site {site!r} is not a compute site of this server (sites: {known}); name one of "
            "them, or leave the site out"
        )
    if spec.graph is not None:
        _check_graph(session, project, body.name, spec.graph)
    _notify_after_commit(session)
    return deployments.write_revision(
        session,
        project,
        body.name,
        spec,
        reason="deploy",
        actor=actor,
        versions=versions,
        create=True,
    )


def scale(
    session: Session, project: Project, name: str, body: ScaleIn, *, actor: str
) -> DeploymentOut:
    """A new revision with a fixed replica count or new autoscaling bounds."""
    spec = spec_for_scale(deployments.current_spec(session, project, name), body)
    _notify_after_commit(session)
    return deployments.write_revision(session, project, name, spec, reason="scale", actor=actor)


def rollback(
    session: Session, project: Project, name: str, *, to_revision: int | None, actor: str
) -> DeploymentOut:
    """A new revision serving revision ``to_revision``'s spec (default: the one before)."""
    spec = deployments.rollback_spec(session, project, name, to_revision)
    if spec.graph is not None:
        _check_graph(session, project, name, spec.graph)
    versions = still_served(session, project, spec)
    _notify_after_commit(session)
    return deployments.write_revision(
        session, project, name, spec, reason="rollback", actor=actor, versions=versions
    )


def list_readable(session: Session, principal: Principal) -> list[DeploymentOut]:
    """The deployments of every project ``principal`` may read, by name."""
    readable = readable_project_ids(session, principal)
    return list_deployments(session, None, project_ids=readable)


def delete(session: Session, project: Project, name: str) -> None:
    """Delete a deployment no graph calls (Conflict naming the graphs that do)."""
    current_spec(session, project, name)  # NotFound first
    users = sorted(
        d.name
        for d in live(session)
        if d.spec.graph is not None and name in members_of(d.spec.graph)
    )
    if users:
        raise Conflict(
            f"deployment {name!r} is called by the graph(s) {', '.join(users)}: delete or "
            "redeploy them first"
        )
    deployments.delete(session, project, name)
    _notify_after_commit(session)
