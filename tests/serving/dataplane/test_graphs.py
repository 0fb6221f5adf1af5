"""Graph deployments over live deployments: sequence, ensemble (mean, vote), switch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from corridor.errors import InvalidInput, Unavailable
from corridor.serving.deployment import LiveDeployment
from corridor.serving.graph_runtime import GraphDeployment, graph_signature
from corridor.serving.plane import DeploymentHandle, InferenceContext
from corridor.serving.spec import (
    Batching,
    DeploymentSpec,
    EnsembleGraph,
    SequenceGraph,
    SwitchGraph,
    VersionRoute,
)
from corridor.serving.tensors import ModelSignature, TensorSpec
from tests.serving.dataplane.functions import FunctionModel, live_deployment, scaled, stop

SPEC = DeploymentSpec(
    routes=(VersionRoute(model="m", version=1),), batching=Batching(enabled=False)
)
CONTEXT = InferenceContext(request_id="r")
X = {"x": np.array([[1, 2, 3, 4], [0, 0, 0, 1]], np.float32)}


def embedder() -> FunctionModel:
    """Texts -> vectors stands in as x -> embedding (the row's cumulative sums)."""
    return FunctionModel(
        lambda b: {"embedding": np.cumsum(b["x"], axis=1).astype(np.float32)},
        signature=ModelSignature(
            inputs=(TensorSpec("x", "FP32", (-1, 4)),),
            outputs=(TensorSpec("embedding", "FP32", (-1, 4)),),
        ),
    )


def head() -> FunctionModel:
    """A classifier head over embeddings: three scores per row."""
    return FunctionModel(
        lambda b: {"scores": b["embedding"][:, :3] * 10},
        signature=ModelSignature(
            inputs=(TensorSpec("embedding", "FP32", (-1, 4)),),
            outputs=(TensorSpec("scores", "FP32", (-1, 3)),),
        ),
    )


def classes(scores: list[float]) -> FunctionModel:
    """Fixed class scores for every row."""
    row = np.array(scores, np.float32)
    return FunctionModel(
        lambda b: {"y": np.tile(row, (len(b["x"]), 1))},
        signature=ModelSignature(
            inputs=(TensorSpec("x", "FP32", (-1, 4)),), outputs=(TensorSpec("y", "FP32", (-1, 3)),)
        ),
    )


Scenario = Callable[[dict[str, DeploymentHandle]], Awaitable[None]]


def run_with(members: dict[str, FunctionModel], scenario: Scenario) -> None:
    async def main() -> None:
        plane: dict[str, DeploymentHandle] = {}
        live: list[LiveDeployment] = []
        for name, model in members.items():
            deployment = await live_deployment(SPEC, {1: model}, name=name)
            live.append(deployment)
            plane[name] = deployment
        try:
            await scenario(plane)
        finally:
            for deployment in live:
                await stop(deployment)

    asyncio.run(main())


def graph(
    plane: dict[str, DeploymentHandle], spec: SequenceGraph | EnsembleGraph | SwitchGraph
) -> GraphDeployment:
    return GraphDeployment(
        name="g",
        project_id="p",
        deployment_id="id-g",
        graph=spec,
        lookup=plane.get,
        signature=graph_signature(spec, plane.get),
    )


def test_a_sequence_feeds_the_embedder_to_the_classifier_head() -> None:
    async def scenario(plane: dict[str, DeploymentHandle]) -> None:
        pipe = graph(plane, SequenceGraph(steps=("embed", "head")))
        assert [t.name for t in pipe.signature.inputs] == ["x"]
        assert [t.name for t in pipe.signature.outputs] == ["scores"]
        answer = await pipe.infer(X, CONTEXT)
        np.testing.assert_array_equal(answer["scores"], [[10, 30, 60], [0, 0, 0]])
        assert pipe.ready()
        assert pipe.metadata()["platform"] == "corridor-graph-sequence"

    run_with({"embed": embedder(), "head": head()}, scenario)


def test_an_ensemble_averages_its_members() -> None:
    async def scenario(plane: dict[str, DeploymentHandle]) -> None:
        mean = graph(plane, EnsembleGraph(members=("a", "b"), combine="mean"))
        answer = await mean.infer(X, CONTEXT)
        np.testing.assert_allclose(answer["y"], X["x"] * 2)

    run_with({"a": scaled(1), "b": scaled(3)}, scenario)


def test_an_ensemble_votes_for_the_majority_class() -> None:
    async def scenario(plane: dict[str, DeploymentHandle]) -> None:
        vote = graph(plane, EnsembleGraph(members=("a", "b", "c"), combine="vote"))
        answer = await vote.infer(X, CONTEXT)
        assert np.argmax(answer["y"], axis=1).tolist() == [2, 2]

    run_with(
        {"a": classes([0, 0, 1]), "b": classes([1, 0, 0]), "c": classes([0.1, 0.2, 0.7])},
        scenario,
    )


def test_a_switch_routes_on_a_request_parameter() -> None:
    async def scenario(plane: dict[str, DeploymentHandle]) -> None:
        switch = graph(plane, SwitchGraph(field="tier", cases={"gold": "a", "free": "b"}))
        gold = InferenceContext(request_id="r", parameters={"tier": "gold"})
        free = InferenceContext(request_id="r", parameters={"tier": "free"})
        assert (await switch.infer(X, gold))["y"][0, 0] == 1
        assert (await switch.infer(X, free))["y"][0, 0] == 3
        with pytest.raises(InvalidInput, match="tier"):
            await switch.infer(X, CONTEXT)

    run_with({"a": scaled(1), "b": scaled(3)}, scenario)


def test_a_graph_whose_member_is_not_served_is_unavailable_naming_it() -> None:
    async def scenario(plane: dict[str, DeploymentHandle]) -> None:
        pipe = graph(plane, SequenceGraph(steps=("embed", "head")))
        del plane["head"]
        assert not pipe.ready()
        with pytest.raises(Unavailable, match="'head'"):
            await pipe.infer(X, CONTEXT)

    run_with({"embed": embedder(), "head": head()}, scenario)
