"""Lineage: which dataset versions, runs, jobs, model versions and deployments made which.

Every slice records and walks edges through this package, so it sits below the slices: a slice
that needed another slice's internals to draw an edge would tie the two together. Which project
owns a node is each slice's answer (`owners`); what a caller may see of a walk is `visibility`.
"""

from corridor.lineage.graph import (
    MAX_DEPTH,
    Direction,
    Edge,
    Lineage,
    Node,
    NodeKind,
    Visibility,
    add_edge,
    downstream,
    remove_node,
    upstream,
    walk,
)

__all__ = [
    "MAX_DEPTH",
    "Direction",
    "Edge",
    "Lineage",
    "Node",
    "NodeKind",
    "Visibility",
    "add_edge",
    "downstream",
    "remove_node",
    "upstream",
    "walk",
]
