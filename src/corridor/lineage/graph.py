"""Lineage: edges "``src`` was used to make ``dst``", and walks along them either way.

Nodes are ``(kind, id)`` pairs from any slice (a dataset version, a run, a job, a model
version, a deployment); an edge is stored once however often it is added. A walk goes level by
level, one query per level, and never visits a node twice, so cycles end it.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, or_, select, tuple_
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.lineage.models import LineageEdge
from corridor.store.base import utcnow
from corridor.store.dialects import dialect_of

MAX_DEPTH = 50
# Node lists per query, kept well under SQLite's bound-parameter cap (two per node).
_CHUNK = 200


class NodeKind(StrEnum):
    DATASET_VERSION = "dataset_version"
    RUN = "run"
    JOB = "job"
    MODEL_VERSION = "model_version"
    DEPLOYMENT = "deployment"
    STEP_RUN = "step_run"


class Direction(StrEnum):
    UPSTREAM = "upstream"  # what a node was made from
    DOWNSTREAM = "downstream"  # what was made from a node


@dataclass(frozen=True, order=True)
class Node:
    kind: NodeKind
    id: str

    @classmethod
    def of(cls, kind: str, node_id: str) -> Node:
        """A node from caller input; `InvalidInput` for an unknown kind or a bad id."""
        try:
            known = NodeKind(kind)
        except ValueError:
            kinds = ", ".join(k.value for k in NodeKind)
            raise InvalidInput(f"lineage kind {kind!r} is not one of {kinds}") from None
        if not node_id or len(node_id) > 256:
            raise InvalidInput("a lineage node id is 1-256 characters")
        if any(unicodedata.category(c)[0] in "CZ" for c in node_id):
            raise InvalidInput(f"lineage node id {node_id!r} holds spaces or control characters")
        return cls(known, node_id)


@dataclass(frozen=True)
class Edge:
    src: Node
    dst: Node
    created_at: dt.datetime


@dataclass(frozen=True)
class Lineage:
    """The nodes reached from ``root`` (each with its distance) and the edges walked."""

    root: Node
    direction: Direction
    depth: int
    nodes: dict[Node, int]
    edges: list[Edge]


Visibility = Callable[[Collection[Node]], set[Node]]
"""Given nodes, return those the caller may see; hidden nodes are neither shown nor walked."""


def add_edge(session: Session, src: Node, dst: Node) -> None:
    """Record that ``src`` was used to make ``dst`` (a no-op if recorded already)."""
    if src == dst:
        raise InvalidInput(f"a lineage edge needs two different nodes, got {src.kind}:{src.id}")
    insert = dialect_of(session).insert
    row = {
        "src_kind": src.kind.value,
        "src_id": src.id,
        "dst_kind": dst.kind.value,
        "dst_id": dst.id,
        "created_at": utcnow(),
    }
    session.execute(insert(LineageEdge).values(row).on_conflict_do_nothing())


def remove_node(session: Session, node: Node) -> None:
    """Delete every edge into or out of ``node`` (when the thing itself is deleted)."""
    session.execute(
        delete(LineageEdge).where(
            or_(
                (LineageEdge.src_kind == node.kind.value) & (LineageEdge.src_id == node.id),
                (LineageEdge.dst_kind == node.kind.value) & (LineageEdge.dst_id == node.id),
            )
        )
    )


def _step(session: Session, frontier: list[Node], direction: Direction) -> list[Edge]:
    if direction is Direction.UPSTREAM:
        near_kind, near_id = LineageEdge.dst_kind, LineageEdge.dst_id
    else:
        near_kind, near_id = LineageEdge.src_kind, LineageEdge.src_id
    edges: list[Edge] = []
    for i in range(0, len(frontier), _CHUNK):
        keys = [(n.kind.value, n.id) for n in frontier[i : i + _CHUNK]]
        rows = session.scalars(
            select(LineageEdge).where(tuple_(near_kind, near_id).in_(keys)).order_by(LineageEdge.id)
        )
        edges.extend(
            Edge(
                Node(NodeKind(r.src_kind), r.src_id),
                Node(NodeKind(r.dst_kind), r.dst_id),
                r.created_at,
            )
            for r in rows
        )
    return edges


def walk(
    session: Session,
    root: Node,
    direction: Direction,
    *,
    depth: int = 10,
    visible: Visibility | None = None,
) -> Lineage:
    """The nodes ``depth`` edges or fewer from ``root`` in ``direction``."""
    if not 0 < depth <= MAX_DEPTH:
        raise InvalidInput(f"lineage depth must be between 1 and {MAX_DEPTH}, got {depth}")
    nodes: dict[Node, int] = {root: 0}
    walked: list[Edge] = []
    frontier = [root]
    for level in range(1, depth + 1):
        if not frontier:
            break
        edges = _step(session, frontier, direction)
        far = [e.src if direction is Direction.UPSTREAM else e.dst for e in edges]
        candidates = {n for n in far if n not in nodes}
        shown = visible(candidates) if visible is not None and candidates else candidates
        frontier = []
        for edge, node in zip(edges, far, strict=True):
            if node in nodes or node in shown:
                walked.append(edge)
            if node in shown and node not in nodes:
                nodes[node] = level
                frontier.append(node)
    return Lineage(root, direction, depth, nodes, walked)


def upstream(
    session: Session, root: Node, *, depth: int = 10, visible: Visibility | None = None
) -> Lineage:
    """What ``root`` was made from, up to ``depth`` edges away."""
    return walk(session, root, Direction.UPSTREAM, depth=depth, visible=visible)


def downstream(
    session: Session, root: Node, *, depth: int = 10, visible: Visibility | None = None
) -> Lineage:
    """What was made from ``root``, up to ``depth`` edges away."""
    return walk(session, root, Direction.DOWNSTREAM, depth=depth, visible=visible)
