"""Deployments and their revisions: write them, read them, hand them to the controller.

Every change is one transaction in the caller's session: the deployment's row is locked
(``FOR UPDATE`` on PostgreSQL; SQLite's writer holds the database), the next revision number is
taken from ``last_revision``, the new revision is written and ``revision`` moves to it, and the
lineage edges from the served versions are added. The route's audit event commits with it
(`corridor.web.sessions`). Once the transaction commits, the serving plane of this process is
told (`corridor.serving.changes`, if present); other processes notice ``updated_at`` move.
A deployment of another project is reported exactly as a missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from corridor import lineage
from corridor.errors import AlreadyExists, InvalidInput, NotFound
from corridor.security.models import Project
from corridor.security.projects import get_by_id
from corridor.serving.models import MAX_STATUS_MESSAGE_LENGTH, STATUSES, Deployment
from corridor.serving.models import DeploymentRevision as Revision
from corridor.serving.refs import ResolvedVersion
from corridor.serving.schemas import DeploymentOut, Paths, RevisionOut
from corridor.serving.spec import DEPLOYMENT_NAME, DeploymentSpec
from corridor.store.base import utcnow


def check_name(name: str) -> str:
    if not DEPLOYMENT_NAME.fullmatch(name):
        raise InvalidInput(
            f"deployment name {name!r} is refused: use 1-63 lower-case letters, digits, '.', "
            "'_' or '-', starting with a letter or digit (it is the model name in the URL "
            "/v2/models/NAME/infer)"
        )
    return name


def paths(name: str) -> Paths:
    base = f"/v2/models/{name}"
    return Paths(infer=f"{base}/infer", ready=f"{base}/ready", metadata=base)


def _out(
    row: Deployment, project: str, spec: DeploymentSpec, revisions: list[RevisionOut] | None
) -> DeploymentOut:
    return DeploymentOut(
        id=row.id,
        name=row.name,
        project=project,
        revision=row.revision,
        status=row.status,
        message=row.message,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        spec=spec,
        paths=paths(row.name),
        revisions=revisions,
    )


def _revision_out(rev: Revision, current: int) -> RevisionOut:
    return RevisionOut(
        revision=rev.revision,
        reason=rev.reason,
        created_by=rev.created_by,
        created_at=rev.created_at,
        current=rev.revision == current,
        spec=DeploymentSpec.model_validate(rev.spec),
    )


def _row(session: Session, project: Project, name: str, *, lock: bool = False) -> Deployment:
    query = select(Deployment).where(Deployment.name == name)
    if lock:
        query = query.with_for_update()
    row = session.scalar(query.execution_options(populate_existing=True))
    if row is None or row.project_id != project.id:
        raise NotFound(f"no deployment {name!r} in project {project.name!r}")
    return row


def _revision(session: Session, row: Deployment, number: int) -> Revision:
    rev = session.scalar(
        select(Revision).where(Revision.deployment_id == row.id, Revision.revision == number)
    )
    if rev is None:
        raise NotFound(f"deployment {row.name!r} has no revision {number}")
    return rev


def current_spec(session: Session, project: Project, name: str) -> DeploymentSpec:
    row = _row(session, project, name)
    return DeploymentSpec.model_validate(_revision(session, row, row.revision).spec)


def write_revision(
    session: Session,
    project: Project,
    name: str,
    spec: DeploymentSpec,
    *,
    reason: str,
    actor: str,
    versions: Sequence[ResolvedVersion] = (),
    create: bool = False,
) -> DeploymentOut:
    """Make ``spec`` the deployment's next revision (creating the deployment if ``create``)."""
    check_name(name)
    now = utcnow()
    existing = session.scalar(select(Deployment).where(Deployment.name == name).with_for_update())
    if existing is None:
        if not create:
            raise NotFound(f"no deployment {name!r} in project {project.name!r}")
        row = Deployment(
            name=name,
            project_id=project.id,
            revision=1,
            last_revision=1,
            status="pending",
            message="",
            created_by=actor,
        )
        row.created_at = row.updated_at = now
        try:
            # A savepoint: a racing creator of the same name makes this a 409, not a 500.
            with session.begin_nested():
                session.add(row)
                session.flush()
        except sa_exc.IntegrityError:
            raise AlreadyExists(f"deployment name {name!r} is taken") from None
    elif existing.project_id != project.id:
        if create:
            raise AlreadyExists(
                f"deployment name {name!r} is taken by another project (names are unique "
                "across the server): choose another name"
            )
        raise NotFound(f"no deployment {name!r} in project {project.name!r}")
    else:
        row = existing
        row.last_revision += 1
        row.revision = row.last_revision
        row.status, row.message = "pending", ""
        row.updated_at = now
    session.add(
        Revision(
            deployment_id=row.id,
            revision=row.revision,
            spec=spec.model_dump(mode="json"),
            reason=reason,
            created_by=actor,
            created_at=now,
        )
    )
    target = lineage.Node(lineage.NodeKind.DEPLOYMENT, row.id)
    for version in versions:
        lineage.add_edge(
            session, lineage.Node(lineage.NodeKind.MODEL_VERSION, version.version_id), target
        )
    session.flush()
    return _out(row, project.name, spec, None)


def rollback_spec(
    session: Session, project: Project, name: str, to_revision: int | None
) -> DeploymentSpec:
    """The spec to serve again: revision ``to_revision``, else the one before the current."""
    row = _row(session, project, name)
    if to_revision is None:
        previous = session.scalar(
            select(Revision.revision)
            .where(Revision.deployment_id == row.id, Revision.revision < row.revision)
            .order_by(Revision.revision.desc())
            .limit(1)
        )
        if previous is None:
            raise InvalidInput(
                f"deployment {name!r} has no revision before {row.revision} to roll back to"
            )
        to_revision = previous
    elif to_revision == row.revision:
        raise InvalidInput(f"deployment {name!r} serves revision {to_revision} already")
    return DeploymentSpec.model_validate(_revision(session, row, to_revision).spec)


def delete(session: Session, project: Project, name: str) -> None:
    """Delete the deployment and its revisions; the controller stops serving it."""
    row = _row(session, project, name, lock=True)
    lineage.remove_node(session, lineage.Node(lineage.NodeKind.DEPLOYMENT, row.id))
    session.delete(row)
    session.flush()


def list_deployments(
    session: Session, project: Project | None, *, project_ids: set[str] | None = None
) -> list[DeploymentOut]:
    """The deployments of ``project`` (or, with None, of ``project_ids``: None for every
    project) by name, each with its current spec."""
    query = (
        select(Deployment, Revision.spec, Project.name)
        .join(
            Revision,
            (Revision.deployment_id == Deployment.id) & (Revision.revision == Deployment.revision),
        )
        .join(Project, Project.id == Deployment.project_id)
        .order_by(Deployment.name)
    )
    if project is not None:
        query = query.where(Deployment.project_id == project.id)
    elif project_ids is not None:
        query = query.where(Deployment.project_id.in_(project_ids))
    rows = session.execute(query).all()
    return [_out(d, p, DeploymentSpec.model_validate(s), None) for d, s, p in rows]


def show(session: Session, project: Project, name: str) -> DeploymentOut:
    """One deployment with its current spec and every revision, newest first."""
    row = _row(session, project, name)
    revisions = list_revisions(session, project, name, row=row)
    spec = next(r.spec for r in revisions if r.current)
    return _out(row, project.name, spec, revisions)


def list_revisions(
    session: Session, project: Project, name: str, *, row: Deployment | None = None
) -> list[RevisionOut]:
    row = row or _row(session, project, name)
    revs = session.scalars(
        select(Revision).where(Revision.deployment_id == row.id).order_by(Revision.revision.desc())
    )
    return [_revision_out(r, row.revision) for r in revs]


# The controller's side.
@dataclass(frozen=True)
class DeploymentRow:
    """What the controller needs of one deployment to serve it."""

    id: str
    name: str
    project_id: str
    revision: int
    spec: DeploymentSpec
    status: str


def live(session: Session) -> list[DeploymentRow]:
    """Every deployment with its current spec (one query), for the controller to reconcile."""
    rows = session.execute(
        select(Deployment, Revision.spec).join(
            Revision,
            (Revision.deployment_id == Deployment.id) & (Revision.revision == Deployment.revision),
        )
    ).all()
    return [
        DeploymentRow(
            d.id, d.name, d.project_id, d.revision, DeploymentSpec.model_validate(s), d.status
        )
        for d, s in rows
    ]


def set_status(
    session: Session,
    deployment_id: str,
    status: str,
    message: str = "",
    *,
    revision: int | None = None,
) -> bool:
    """Record what the controller found (``status`` one of `STATUSES`); False if the row is
    gone or, with ``revision``, has moved on to another revision (then nothing is written)."""
    if status not in STATUSES:
        raise InvalidInput(f"deployment status {status!r} is not one of {', '.join(STATUSES)}")
    row = session.get(Deployment, deployment_id, with_for_update=True)
    if row is None or (revision is not None and row.revision != revision):
        return False
    if (row.status, row.message) != (status, message[:MAX_STATUS_MESSAGE_LENGTH]):
        row.status, row.message = status, message[:MAX_STATUS_MESSAGE_LENGTH]
    session.flush()
    return True


def project_of(session: Session, name: str) -> Project:
    """The project deployment ``name`` belongs to; NotFound if there is none."""
    project_id = session.scalar(select(Deployment.project_id).where(Deployment.name == name))
    if project_id is None:
        raise NotFound(f"no deployment {name!r}")
    return get_by_id(session, project_id)


def deployment_projects(ids: Sequence[str]) -> Select[str, str]:
    """``(deployment id, project id)`` of the deployments among ``ids`` (lineage's owner query)."""
    return select(Deployment.id, Deployment.project_id).where(Deployment.id.in_(ids))
