"""Which project owns each lineage node, read from the tables of the slice that stores it.

Access to a node is access to its project, so every visibility decision about lineage starts
here. One table, one line per node kind a slice stores, naming by import path the slice's query
of its rows' projects (so that lineage, below the slices, never imports one at load time). Ids
whose row is gone (a force-deleted dataset version, kept in lineage as a tombstone; a deleted
deployment's edges go with it) own nothing: `corridor.lineage.visibility` decides
what that means for a walk.
"""

from __future__ import annotations

import functools
import pkgutil
from collections.abc import Callable, Collection, Sequence
from typing import cast

from sqlalchemy import Select
from sqlalchemy.orm import Session

from corridor.lineage.graph import Node, NodeKind

# Ids per query, well under SQLite's bound-parameter cap.
_CHUNK = 500

OwnerQuery = Callable[[Sequence[str]], Select[str, str]]
"""Given node ids, select ``(id, project id)`` for those that exist."""

OWNERS: dict[NodeKind, str] = {
    NodeKind.MODEL_VERSION: "corridor.registry.lookup:version_projects",
    NodeKind.RUN: "corridor.tracking.runs:run_projects",
    NodeKind.DATASET_VERSION: "corridor.data.datasets:version_projects",
    NodeKind.JOB: "corridor.compute.jobs:job_projects",
    NodeKind.DEPLOYMENT: "corridor.serving.deployments:deployment_projects",
    NodeKind.STEP_RUN: "corridor.pipelines.step_runs:step_run_projects",
}


@functools.cache
def _query(kind: NodeKind) -> OwnerQuery:
    return cast(OwnerQuery, pkgutil.resolve_name(OWNERS[kind]))


def node_projects(session: Session, nodes: Collection[Node]) -> dict[Node, str]:
    """The id of the project each of ``nodes`` lives in; nodes that own nothing are absent."""
    owners: dict[Node, str] = {}
    for kind in OWNERS:
        ids = sorted({n.id for n in nodes if n.kind is kind})
        for i in range(0, len(ids), _CHUNK):
            for node_id, project_id in session.execute(_query(kind)(ids[i : i + _CHUNK])):
                owners[Node(kind, node_id)] = project_id
    return owners
