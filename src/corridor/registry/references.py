"""What a new version names besides its package: runs, logged models and dataset versions.

Each must exist and be readable by whoever registers the version (server admins read all).
Otherwise the registration is refused with `NotFound`, worded exactly as for an id that names
nothing: a registration may neither probe another team's project for ids nor copy its ids into
a version, where every reader of the version would then see them. A reference into another
project the caller can read is honoured, as the MLflow routes honour it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.data import datasets
from corridor.data.sansio.refs import parse_ref
from corridor.errors import NotFound
from corridor.lineage import Node, NodeKind
from corridor.lineage.owners import node_projects
from corridor.security import projects
from corridor.security.policy import Principal
from corridor.security.projects import can_read
from corridor.tracking.models import Experiment, LoggedModel, Run

_ID = re.compile(r"[0-9a-f]{32}")


def readable_run(
    session: Session, run_id: str, by: Principal, *, experiment_id: str | None = None
) -> None:
    """`NotFound` unless run ``run_id`` exists (in ``experiment_id``, if given) and ``by`` may
    read its project."""
    node = Node(NodeKind.RUN, run_id)
    owner = node_projects(session, [node]).get(node)
    if owner is None or not can_read(session, by, owner):
        raise NotFound(f"run {run_id!r} not found")
    if experiment_id is not None:
        found = session.scalar(select(Run.experiment_id).where(Run.run_id == run_id))
        if str(found) != experiment_id:
            raise NotFound(f"run {run_id!r} not found in experiment {experiment_id!r}")


def readable_logged_model(
    session: Session, model_id: str, by: Principal, *, experiment_id: str | None = None
) -> None:
    """`NotFound` unless logged model ``model_id`` exists (in ``experiment_id``, if given) and
    ``by`` may read its project."""
    row = session.execute(
        select(LoggedModel.experiment_id, Experiment.project_id)
        .join(Experiment, Experiment.experiment_id == LoggedModel.experiment_id)
        .where(LoggedModel.model_id == model_id)
    ).first()
    if row is None or not can_read(session, by, row.project_id):
        raise NotFound(f"logged model {model_id!r} not found")
    if experiment_id is not None and str(row.experiment_id) != experiment_id:
        raise NotFound(f"logged model {model_id!r} not found in experiment {experiment_id!r}")


def _by_id(session: Session, text: str, by: Principal) -> str | None:
    if not _ID.fullmatch(text):
        return None
    node = Node(NodeKind.DATASET_VERSION, text)
    owner = node_projects(session, [node]).get(node)
    return text if owner is not None and can_read(session, by, owner) else None


def readable_dataset_versions(
    session: Session, names: Sequence[str], project_id: str, by: Principal
) -> tuple[str, ...]:
    """The ids of the dataset versions ``names`` lists, each an id or a reference such as
    ``sales@3`` or ``team/sales@3`` (read from project ``project_id``); `NotFound` for one
    that names nothing ``by`` may read."""
    acting = projects.get_by_id(session, project_id)
    ids: list[str] = []
    for text in names:
        found = _by_id(session, text, by)
        if found is None:
            ref = parse_ref(text)
            try:
                found = datasets.resolve(session, acting, ref, by).version.id
            except NotFound:
                raise NotFound(f"dataset version {text!r} not found") from None
        ids.append(found)
    return tuple(dict.fromkeys(ids))
