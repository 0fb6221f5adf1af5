"""How people know a lineage node ("model churn version 3"), read from the slice that stores it.

A slice that explains what depends on its rows (a dataset version's deletion names the model
versions trained on it) must name another slice's nodes without importing that slice: the
registry already reads datasets to check its references, and a data slice that read the
registry back would close a cycle. So, as for owners (`corridor.lineage.owners`), one table
names by import path, per node kind, the owning slice's function that names its nodes.
Kinds with no line are named by their kind and id; ids whose row is gone have no name.
"""

from __future__ import annotations

import functools
import pkgutil
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import cast

from sqlalchemy.orm import Session

from corridor.lineage.graph import Node, NodeKind

NodeNames = Callable[[Session, Sequence[str]], Mapping[str, str]]
"""Given node ids, the name of each that exists, by id."""

NAMES: dict[NodeKind, str] = {
    NodeKind.MODEL_VERSION: "corridor.registry.records:version_names",
    NodeKind.STEP_RUN: "corridor.pipelines.step_runs:step_run_names",
}


@functools.cache
def _names(kind: NodeKind) -> NodeNames:
    return cast(NodeNames, pkgutil.resolve_name(NAMES[kind]))


def node_names(session: Session, nodes: Collection[Node]) -> dict[Node, str]:
    """The name of each of ``nodes`` whose kind has a line in `NAMES` and whose row exists."""
    found: dict[Node, str] = {}
    for kind in NAMES:
        ids = sorted({n.id for n in nodes if n.kind is kind})
        if ids:
            for node_id, name in _names(kind)(session, ids).items():
                found[Node(kind, node_id)] = name
    return found
