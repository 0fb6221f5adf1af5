"""Graph deployments: a sequence, ensemble or switch over other live deployments.

A `GraphDeployment` holds no model of its own: it looks its members up by name in the serving
plane at request time, so a member redeployed (or rolled back) is used by the graph at once,
and calls each member's handle as the gateway would (each member checks its own inputs,
batches and routes its own versions). The pure parts (feeding one step's outputs to the next,
combining an ensemble, choosing a switch's target) are `corridor.serving.sansio.graphs`.

Invariants: a graph answers with its last step's outputs (sequence), the combination of every
member's outputs (ensemble) or the chosen target's outputs (switch); a member missing from the
plane is `Unavailable` (503) naming it. The controller validated the graph (no cycle, members
exist) before building it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from corridor.errors import NotFound, Unavailable
from corridor.serving.plane import DeploymentHandle, InferenceContext
from corridor.serving.runtimes.base import ModelKind
from corridor.serving.sansio.graphs import (
    combine_mean,
    combine_vote,
    members_of,
    sequence_feed,
    switch_target,
)
from corridor.serving.spec import EnsembleGraph, SequenceGraph, SwitchGraph
from corridor.serving.tensors import Batch, ModelSignature

GraphSpec = SequenceGraph | EnsembleGraph | SwitchGraph
Lookup = Callable[[str], DeploymentHandle | None]


def graph_signature(graph: GraphSpec, lookup: Lookup) -> ModelSignature:
    """The first member's inputs and the last (sequence) or first (otherwise) one's outputs."""
    names = members_of(graph)
    first = _member(lookup, names[0])
    last = _member(lookup, graph.steps[-1]) if isinstance(graph, SequenceGraph) else first
    return ModelSignature(
        inputs=first.signature.inputs,
        outputs=last.signature.outputs,
        allow_nan=first.signature.allow_nan,
    )


def _member(lookup: Lookup, name: str) -> DeploymentHandle:
    handle = lookup(name)
    if handle is None:
        raise Unavailable(
            f"graph member deployment {name!r} is not being served; deploy it, or wait until it "
            "has loaded"
        )
    return handle


class GraphDeployment:
    """A deployment whose answer comes from other deployments, combined as its graph says."""

    def __init__(
        self,
        *,
        name: str,
        project_id: str,
        deployment_id: str,
        graph: GraphSpec,
        lookup: Lookup,
        signature: ModelSignature,
        kind: ModelKind = "tensors",
    ) -> None:
        self.name = name
        self.project_id = project_id
        self.deployment_id = deployment_id
        self.graph = graph
        self.kind: ModelKind = kind
        self.signature = signature
        self.versions: tuple[str, ...] = ("1",)
        self.sticky_header: str | None = None
        self._lookup = lookup
        self._members = members_of(graph)

    def ready(self, version: int | None = None) -> bool:
        if version not in (None, 1):
            return False
        for name in self._members:
            handle = self._lookup(name)
            if handle is None or not handle.ready():
                return False
        return True

    def metadata(self, version: int | None = None) -> dict[str, Any]:
        self._check_version(version)
        return {
            "name": self.name,
            "versions": list(self.versions),
            "platform": f"corridor-graph-{self.graph.kind}",
            "inputs": [t.as_metadata() for t in self.signature.inputs],
            "outputs": [t.as_metadata() for t in self.signature.outputs],
        }

    def _check_version(self, version: int | None) -> None:
        if version not in (None, 1):
            raise NotFound(f"graph deployment {self.name!r} has only version 1, not {version}")

    async def infer(self, inputs: Batch, context: InferenceContext) -> Batch:
        self._check_version(context.version)
        # Members route their own versions: the graph's explicit version is not theirs.
        member_context = replace(context, version=None) if context.version else context
        graph = self.graph
        if isinstance(graph, SequenceGraph):
            return await self._sequence(graph, inputs, member_context)
        if isinstance(graph, EnsembleGraph):
            handles = [_member(self._lookup, n) for n in graph.members]
            answers = await asyncio.gather(*(h.infer(inputs, member_context) for h in handles))
            combine = combine_mean if graph.combine == "mean" else combine_vote
            return combine(list(answers))
        target = switch_target(graph, context.parameters or {})
        return await _member(self._lookup, target).infer(inputs, member_context)

    async def _sequence(
        self, graph: SequenceGraph, inputs: Batch, context: InferenceContext
    ) -> Batch:
        handles = [_member(self._lookup, n) for n in graph.steps]
        current = inputs
        for i, handle in enumerate(handles):
            if i:
                current = sequence_feed(current, handle.signature.inputs)
            current = await handle.infer(current, context)
        return current
