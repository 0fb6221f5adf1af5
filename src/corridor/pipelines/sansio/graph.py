"""A built pipeline's graph: its nodes (step calls), their arguments, and the pipeline's result.

Pure: plain values in, plain values out, no I/O. The driver walks this graph to run a pipeline,
the server stores its JSON form (``Graph.to_json``) for display, and ``Graph.from_json`` reads it
back. A graph is checked whole when it is made: every key an argument, condition or ordering
names must be a node, and the nodes must not form a cycle, so a bad graph is refused before any
step runs.

An ``Arg`` is one argument (or the result) as a tree: a reference to a node's output (with an
optional path into it: ``out["rows"][0]``), a literal (known by the sha256 of its payload
encoding; the value itself stays with the driver), or a list or dict holding references.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from corridor.errors import InvalidInput

ArgKind = Literal["node", "lit", "list", "dict"]
PathPart = str | int
GRAPH_FORMAT = 1


@dataclass(frozen=True)
class Arg:
    """One argument of a node, or the pipeline's result, as a tree.

    JSON: ``{"$node": key, "path": [...]}``, ``{"$lit": digest, "repr": text}``,
    ``{"$list": [...]}`` or ``{"$dict": {...}}``.
    """

    kind: ArgKind
    node: str | None = None
    path: tuple[PathPart, ...] = ()
    digest: str | None = None
    shown: str = ""
    items: tuple[Arg, ...] = ()
    keys: tuple[str, ...] = ()  # a dict's keys, parallel to ``items``

    @staticmethod
    def of_node(key: str, path: Iterable[PathPart] = ()) -> Arg:
        return Arg("node", node=key, path=tuple(path))

    @staticmethod
    def of_literal(digest: str, shown: str = "") -> Arg:
        return Arg("lit", digest=digest, shown=shown)

    @staticmethod
    def of_list(items: Iterable[Arg]) -> Arg:
        return Arg("list", items=tuple(items))

    @staticmethod
    def of_dict(entries: Mapping[str, Arg]) -> Arg:
        return Arg("dict", keys=tuple(entries), items=tuple(entries.values()))

    def node_keys(self) -> frozenset[str]:
        """Every node whose output this argument needs."""
        if self.kind == "node":
            return frozenset((self.node,)) if self.node is not None else frozenset()
        keys: set[str] = set()
        for item in self.items:
            keys |= item.node_keys()
        return frozenset(keys)

    def literal_digests(self) -> frozenset[str]:
        """Every literal this argument holds (by digest)."""
        if self.kind == "lit":
            return frozenset((self.digest,)) if self.digest is not None else frozenset()
        digests: set[str] = set()
        for item in self.items:
            digests |= item.literal_digests()
        return frozenset(digests)

    def to_json(self) -> dict[str, Any]:
        if self.kind == "node":
            return {"$node": self.node, "path": list(self.path)}
        if self.kind == "lit":
            return {"$lit": self.digest, "repr": self.shown}
        if self.kind == "list":
            return {"$list": [item.to_json() for item in self.items]}
        return {"$dict": {k: v.to_json() for k, v in zip(self.keys, self.items, strict=True)}}

    @staticmethod
    def from_json(data: object) -> Arg:
        if not isinstance(data, dict):
            raise InvalidInput(f"a graph argument must be an object, not {data!r:.80}")
        if "$node" in data:
            path = data.get("path", [])
            if not isinstance(data["$node"], str) or not isinstance(path, list):
                raise InvalidInput(f"bad node reference in a graph: {data!r:.80}")
            return Arg.of_node(data["$node"], path)
        if "$lit" in data:
            if not isinstance(data["$lit"], str):
                raise InvalidInput(f"bad literal in a graph: {data!r:.80}")
            return Arg.of_literal(data["$lit"], str(data.get("repr", "")))
        if "$list" in data and isinstance(data["$list"], list):
            return Arg.of_list(Arg.from_json(item) for item in data["$list"])
        if "$dict" in data and isinstance(data["$dict"], dict):
            return Arg.of_dict({str(k): Arg.from_json(v) for k, v in data["$dict"].items()})
        raise InvalidInput(f"unknown graph argument: {data!r:.80}")


def resolve(
    arg: Arg, output_of: Callable[[str], object], literal_of: Callable[[str], object]
) -> object:
    """The value of ``arg``, given each node's output and each literal's value."""
    if arg.kind == "node":
        assert arg.node is not None
        return follow_path(arg.node, output_of(arg.node), arg.path)
    if arg.kind == "lit":
        assert arg.digest is not None
        return literal_of(arg.digest)
    if arg.kind == "list":
        return [resolve(item, output_of, literal_of) for item in arg.items]
    return {k: resolve(v, output_of, literal_of) for k, v in zip(arg.keys, arg.items, strict=True)}


def follow_path(key: str, value: object, path: Iterable[PathPart]) -> object:
    """``value[p0][p1]...``; InvalidInput names the step and the part that is missing."""
    shown = repr(key)
    for part in path:
        try:
            value = value[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            raise InvalidInput(
                f"the output of step {shown} ({type(value).__name__}) has no item [{part!r}]"
            ) from None
        shown += f"[{part!r}]"
    return value


@dataclass(frozen=True)
class Node:
    """One step call in the graph (or one mapped step: ``map_over`` is the list it maps over)."""

    key: str
    step: str
    module: str
    qualname: str
    options: dict[str, Any]
    args: tuple[Arg, ...] = ()
    kwargs: dict[str, Arg] = field(default_factory=dict)
    map_over: Arg | None = None
    when: tuple[tuple[str, bool], ...] = ()  # (node key, negate): all must hold
    after: tuple[str, ...] = ()

    _upstream: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys: set[str] = set(self.after)
        keys.update(key for key, _ in self.when)
        for arg in self._all_args():
            keys |= arg.node_keys()
        object.__setattr__(self, "_upstream", frozenset(keys))

    def upstream(self) -> frozenset[str]:
        """Every node key this node waits for: data, conditions and explicit ordering."""
        return self._upstream

    def literal_digests(self) -> frozenset[str]:
        digests: set[str] = set()
        for arg in self._all_args():
            digests |= arg.literal_digests()
        return frozenset(digests)

    def _all_args(self) -> list[Arg]:
        args = [*self.args, *self.kwargs.values()]
        return [*args, self.map_over] if self.map_over is not None else args

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "step": self.step,
            "module": self.module,
            "qualname": self.qualname,
            "options": dict(self.options),
            "args": [a.to_json() for a in self.args],
            "kwargs": {k: a.to_json() for k, a in self.kwargs.items()},
            "map_over": self.map_over.to_json() if self.map_over is not None else None,
            "when": [[key, negate] for key, negate in self.when],
            "after": list(self.after),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Node:
        try:
            return Node(
                key=str(data["key"]),
                step=str(data["step"]),
                module=str(data["module"]),
                qualname=str(data["qualname"]),
                options=dict(data.get("options") or {}),
                args=tuple(Arg.from_json(a) for a in data.get("args") or []),
                kwargs={str(k): Arg.from_json(a) for k, a in (data.get("kwargs") or {}).items()},
                map_over=Arg.from_json(data["map_over"]) if data.get("map_over") else None,
                when=tuple((str(k), bool(neg)) for k, neg in data.get("when") or []),
                after=tuple(str(k) for k in data.get("after") or []),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"bad node in a graph: {exc!r:.200}") from None


@dataclass(frozen=True)
class Graph:
    """A pipeline's nodes (in build order) and its result; checked whole when made."""

    pipeline: str
    nodes: dict[str, Node]
    result: Arg
    _order: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _dependents: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        dependents: dict[str, list[str]] = {key: [] for key in self.nodes}
        for node in self.nodes.values():
            for up in sorted(node.upstream()):
                if up not in self.nodes:
                    raise InvalidInput(f"step {node.key!r} depends on {up!r}, which is not a step")
                dependents[up].append(node.key)
        for up in self.result.node_keys():
            if up not in self.nodes:
                raise InvalidInput(f"the pipeline's result names {up!r}, which is not a step")
        object.__setattr__(self, "_dependents", {k: tuple(v) for k, v in dependents.items()})
        object.__setattr__(self, "_order", _topological(self.nodes))

    def order(self) -> list[str]:
        """Node keys so that each comes after everything it waits for: build order, except that
        a node named by an earlier one's ``after`` moves up to just before it."""
        return list(self._order)

    def upstream(self, key: str) -> frozenset[str]:
        return self.nodes[key].upstream()

    def dependents(self, key: str) -> tuple[str, ...]:
        """The nodes that wait directly for ``key``."""
        return self._dependents[key]

    def downstream(self, key: str) -> list[str]:
        """Every node that waits for ``key``, directly or not, in topological order."""
        seen: set[str] = set()
        stack = list(self._dependents[key])
        while stack:
            k = stack.pop()
            if k not in seen:
                seen.add(k)
                stack.extend(self._dependents[k])
        return [k for k in self._order if k in seen]

    def roots(self) -> list[str]:
        """Nodes that wait for nothing."""
        return [k for k in self._order if not self.nodes[k].upstream()]

    def ready(self, done: Collection[str]) -> list[str]:
        """Nodes not in ``done`` whose every upstream node is in ``done``."""
        return [
            k
            for k in self._order
            if k not in done and all(up in done for up in self.nodes[k].upstream())
        ]

    def literal_digests(self) -> frozenset[str]:
        digests: set[str] = set(self.result.literal_digests())
        for node in self.nodes.values():
            digests |= node.literal_digests()
        return frozenset(digests)

    def to_json(self) -> dict[str, Any]:
        # Nodes as a list: some JSON stores (PostgreSQL jsonb) do not keep an object's key order.
        return {
            "format": GRAPH_FORMAT,
            "pipeline": self.pipeline,
            "nodes": [node.to_json() for node in self.nodes.values()],
            "result": self.result.to_json(),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Graph:
        if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), list):
            raise InvalidInput("a graph must be an object with a list of nodes")
        nodes: dict[str, Node] = {}
        for item in data["nodes"]:
            node = Node.from_json(item)
            if node.key in nodes:
                raise InvalidInput(f"two steps of the graph have the key {node.key!r}")
            nodes[node.key] = node
        return Graph(str(data.get("pipeline", "")), nodes, Arg.from_json(data.get("result")))


class Frontier:
    """Which nodes may start as others finish, in O(edges) over a whole run (a driver asks
    after every finished node; rescanning the graph each time would be quadratic)."""

    def __init__(self, graph: Graph, done: Collection[str] = ()) -> None:
        self._graph = graph
        self._finished: set[str] = set()
        self._waiting = {key: len(graph.upstream(key)) for key in graph.order()}
        for key in graph.order():
            if key in done:
                self.finish(key)

    def start(self) -> list[str]:
        """The nodes ready now (none of their upstream unfinished), in topological order.

        Call once at the start (or on resume, after ``done``); then use ``finish``'s answers."""
        return [k for k, count in self._waiting.items() if count == 0 and k not in self._finished]

    def finish(self, key: str) -> list[str]:
        """Mark ``key`` finished (in any end state); the nodes that became ready by it."""
        if key in self._finished:
            return []
        self._finished.add(key)
        ready: list[str] = []
        for dependent in self._graph.dependents(key):
            self._waiting[dependent] -= 1
            if self._waiting[dependent] == 0 and dependent not in self._finished:
                ready.append(dependent)
        return ready

    def finished(self) -> frozenset[str]:
        return frozenset(self._finished)


def _topological(nodes: Mapping[str, Node]) -> tuple[str, ...]:
    """Depth-first order; a node met again while still on the path closes a cycle."""
    done: set[str] = set()
    on_path: list[str] = []
    on_path_set: set[str] = set()
    order: list[str] = []
    for start in nodes:
        if start in done:
            continue
        # An explicit stack: a long chain of steps must not hit Python's recursion limit.
        stack: list[tuple[str, list[str]]] = [(start, sorted(nodes[start].upstream()))]
        on_path.append(start)
        on_path_set.add(start)
        while stack:
            key, pending = stack[-1]
            if pending:
                up = pending.pop()
                if up in done:
                    continue
                if up in on_path_set:
                    cycle = on_path[on_path.index(up) :]
                    # on_path runs against the arrows (a node, then what it waits for).
                    shown = " -> ".join([*reversed(cycle), cycle[-1]])
                    raise InvalidInput(f"steps form a cycle: {shown}")
                stack.append((up, sorted(nodes[up].upstream())))
                on_path.append(up)
                on_path_set.add(up)
                continue
            stack.pop()
            on_path.pop()
            on_path_set.discard(key)
            done.add(key)
            order.append(key)
    return tuple(order)
