"""Which project owns each lineage node, read from the tables of the slice that stores it.

Access to a node is access to its project, so every visibility decision about lineage starts
here. One table, one line per node kind a slice stores. Kinds no slice stores yet (jobs,
deployments) and ids whose row is gone (a force-deleted dataset version, kept in lineage as a
tombstone) own nothing: `corridor.registry.access` decides what that means for a walk.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from corridor.data.models import Dataset, DatasetVersion
from corridor.registry.lineage import Node, NodeKind
from corridor.registry.models import ModelVersion, RegisteredModel
from corridor.tracking.models import Experiment, Run

# Ids per query, well under SQLite's bound-parameter cap.
_CHUNK = 500

OwnerQuery = Callable[[Sequence[str]], Select[str, str]]


def _model_versions(ids: Sequence[str]) -> Select[str, str]:
    return (
        select(ModelVersion.id, RegisteredModel.project_id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.registered_model_id)
        .where(ModelVersion.id.in_(ids))
    )


def _runs(ids: Sequence[str]) -> Select[str, str]:
    return (
        select(Run.run_id, Experiment.project_id)
        .join(Experiment, Experiment.experiment_id == Run.experiment_id)
        .where(Run.run_id.in_(ids))
    )


def _dataset_versions(ids: Sequence[str]) -> Select[str, str]:
    return (
        select(DatasetVersion.id, Dataset.project_id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(DatasetVersion.id.in_(ids))
    )


OWNERS: dict[NodeKind, OwnerQuery] = {
    NodeKind.MODEL_VERSION: _model_versions,
    NodeKind.RUN: _runs,
    NodeKind.DATASET_VERSION: _dataset_versions,
}


def node_projects(session: Session, nodes: Collection[Node]) -> dict[Node, str]:
    """The id of the project each of ``nodes`` lives in; nodes that own nothing are absent."""
    owners: dict[Node, str] = {}
    for kind, query in OWNERS.items():
        ids = sorted({n.id for n in nodes if n.kind is kind})
        for i in range(0, len(ids), _CHUNK):
            for node_id, project_id in session.execute(query(ids[i : i + _CHUNK])):
                owners[Node(kind, node_id)] = project_id
    return owners
