"""Model graphs over deployments: validation and the pure combinators. No I/O.

A graph deployment (`corridor.serving.spec.SequenceGraph`, `EnsembleGraph`, `SwitchGraph`)
names other deployments; the graph runtime calls them and uses the functions here::

    validate_graphs({"pipe": SequenceGraph(steps=("embed", "head")), "embed": None, "head": None})
    batch = sequence_feed(embed_outputs, head.signature.inputs)   # one step's outputs -> next
    batch = combine_mean([a_outputs, b_outputs])                  # ensemble, combine="mean"
    batch = combine_vote([a_outputs, b_outputs, c_outputs])       # ensemble, combine="vote"
    name = switch_target(graph, context.parameters)               # switch on a request field

Invariants: a valid set of graphs has no cycle, no self-reference, no unknown member, and no
chain of graphs nested deeper than `MAX_GRAPH_DEPTH` (each level is one more hop per request).
Combinators never change the batch dimension and name their outputs as the members do.

Vote: for a floating output of two or more dimensions (scores or logits per class) each member
votes for the argmax class of each row; the result keeps the members' shape and dtype and holds
the fraction of members that voted for each class, so its argmax is the majority class (ties:
the lowest class, as ``argmax`` picks the first maximum). For any other output (integers,
booleans, bytes, one-dimensional floats) members vote per element by value; the result is the
most common value, ties going to the lowest value.

Cost: the combinators stack the members' arrays once (M members x the batch), and vote by value
compares every pair of members (M^2 elementwise comparisons; M is at most 32).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from corridor.errors import InvalidInput
from corridor.serving.spec import EnsembleGraph, Graph, SequenceGraph, SwitchGraph
from corridor.serving.tensors import Batch, TensorSpec, datatype_of_array

MAX_GRAPH_DEPTH = 8
"""Graphs may nest graphs this many levels deep (a graph over models alone has depth 1)."""


def members_of(graph: Graph) -> tuple[str, ...]:
    """The deployments ``graph`` calls, each once, in the order it names them."""
    if isinstance(graph, SequenceGraph):
        names: Sequence[str] = graph.steps
    elif isinstance(graph, EnsembleGraph):
        names = graph.members
    else:
        names = [*graph.cases.values(), *([graph.default] if graph.default else [])]
    return tuple(dict.fromkeys(names))


def validate_graphs(specs: Mapping[str, Graph | None], max_depth: int = MAX_GRAPH_DEPTH) -> None:
    """Check every graph in ``specs`` (deployment name -> its graph, None for a model
    deployment): raise `InvalidInput` naming a self-reference, an unknown member, a cycle, or
    a nesting deeper than ``max_depth``."""
    for name, graph in specs.items():
        if graph is None:
            continue
        members = members_of(graph)
        if name in members:
            raise InvalidInput(
                f"graph {name!r} names itself as a member; a graph cannot call itself"
            )
        unknown = [m for m in members if m not in specs]
        if unknown:
            raise InvalidInput(
                f"graph {name!r} names {', '.join(map(repr, unknown))}, which "
                f"{'is not a deployment' if len(unknown) == 1 else 'are not deployments'}; "
                "deploy them first or fix the names"
            )
    depth: dict[str, int] = {}
    for name in specs:
        _depth(name, specs, depth, [], max_depth)


def _depth(
    name: str,
    specs: Mapping[str, Graph | None],
    depth: dict[str, int],
    path: list[str],
    max_depth: int,
) -> int:
    """The nesting depth of ``name`` (0 for a model deployment), by depth-first search."""
    if name in depth:
        return depth[name]
    if name in path:
        cycle = " -> ".join([*path[path.index(name) :], name])
        raise InvalidInput(f"the graphs form a cycle: {cycle}; a graph cannot call itself")
    graph = specs.get(name)
    if graph is None:
        depth[name] = 0
        return 0
    path.append(name)
    deepest = max(_depth(m, specs, depth, path, max_depth) for m in members_of(graph))
    path.pop()
    depth[name] = deepest + 1
    if depth[name] > max_depth:
        raise InvalidInput(
            f"graph {name!r} nests graphs {depth[name]} levels deep; the limit is {max_depth}"
        )
    return depth[name]


def _stack(outputs: Sequence[Batch], how: str) -> dict[str, npt.NDArray[Any]]:
    """Each output name -> the members' arrays stacked on a new first axis."""
    if not outputs:
        raise InvalidInput(f"an ensemble needs at least one member's outputs to {how}")
    names = list(outputs[0])
    for i, batch in enumerate(outputs[1:], start=1):
        if list(batch) != names and set(batch) != set(names):
            raise InvalidInput(
                f"ensemble members must give the same outputs to {how}: member 0 gives "
                f"{sorted(names)}, member {i} gives {sorted(batch)}"
            )
    stacked = {}
    for name in names:
        arrays = [np.asarray(batch[name]) for batch in outputs]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise InvalidInput(
                f"ensemble members disagree on the shape of output {name!r}: "
                f"{sorted(shapes)}; members of an ensemble must share a signature"
            )
        stacked[name] = np.stack(arrays)
    return stacked


def combine_mean(outputs: Sequence[Batch]) -> Batch:
    """The elementwise mean of each output over the members (floats keep their dtype;
    integers and booleans are averaged to FP64). BYTES outputs cannot be averaged."""
    result: Batch = {}
    for name, stack in _stack(outputs, "average").items():
        if stack.dtype.kind in "OSU":
            raise InvalidInput(
                f"output {name!r} is BYTES and cannot be averaged; use combine 'vote' instead"
            )
        dtype = stack.dtype if stack.dtype.kind == "f" else np.dtype(np.float64)
        result[name] = stack.mean(axis=0, dtype=np.float64).astype(dtype, copy=False)
    return result


def combine_vote(outputs: Sequence[Batch]) -> Batch:
    """The members' majority per row (class scores) or per element (values); see the module
    docstring for the rules and ties."""
    result: Batch = {}
    for name, stack in _stack(outputs, "vote on").items():
        if stack.dtype.kind == "f" and stack.ndim >= 3:
            result[name] = _vote_classes(stack)
        else:
            result[name] = _vote_values(stack)
    return result


def _vote_classes(stack: npt.NDArray[Any]) -> npt.NDArray[Any]:
    members, classes = stack.shape[0], stack.shape[-1]
    votes = stack.argmax(axis=-1)  # (members, batch, ...)
    one_hot = votes[..., None] == np.arange(classes)
    shares: npt.NDArray[Any] = (one_hot.sum(axis=0) / members).astype(stack.dtype)
    return shares


def _vote_values(stack: npt.NDArray[Any]) -> npt.NDArray[Any]:
    ordered = np.sort(stack, axis=0)
    # counts[m]: how many members gave the value member m gave (after sorting by value).
    counts = np.stack([(ordered == ordered[m]).sum(axis=0) for m in range(len(ordered))])
    # argmax takes the first maximum: the lowest value among the most common ones.
    winner = counts.argmax(axis=0)
    chosen: npt.NDArray[Any] = np.take_along_axis(ordered, winner[None, ...], axis=0)[0]
    return chosen


def switch_target(graph: SwitchGraph, parameters: Mapping[str, Any] | None) -> str:
    """The deployment a switch sends one request to, by its ``graph.field`` parameter."""
    cases = ", ".join(repr(c) for c in graph.cases)
    params = parameters or {}
    if graph.field not in params:
        if graph.default is not None:
            return graph.default
        raise InvalidInput(
            f"this switch routes on the request parameter {graph.field!r}, which the request "
            f"does not set; send it with one of the values {cases}"
        )
    raw = params[graph.field]
    value = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
    target = graph.cases.get(value)
    if target is not None:
        return target
    if graph.default is not None:
        return graph.default
    raise InvalidInput(
        f"the request parameter {graph.field!r} is {value!r}, which matches none of the "
        f"switch's values {cases}; send one of them"
    )


def _describe(batch: Batch) -> str:
    return "; ".join(
        f"{name} {datatype_of_array(np.asarray(a))} {list(np.shape(a))}"
        for name, a in batch.items()
    )


def sequence_feed(outputs: Batch, next_inputs: Sequence[TensorSpec]) -> Batch:
    """One step's outputs as the next step's inputs: by name when every input the next step
    takes is among the outputs, else by position when the counts match."""
    wanted = [spec.name for spec in next_inputs]
    if all(name in outputs for name in wanted):
        return {name: outputs[name] for name in wanted}
    if len(outputs) == len(next_inputs):
        return {spec.name: array for spec, array in zip(next_inputs, outputs.values(), strict=True)}
    expected = "; ".join(spec.describe() for spec in next_inputs)
    raise InvalidInput(
        f"a sequence step gives outputs ({_describe(outputs)}) that do not fit the next step's "
        f"inputs ({expected}): name the outputs as the inputs, or give as many of them"
    )
