"""Small Python-function models behind real replica pools, for the data plane's tests.

A `FunctionModel` is a `ServedModel` whose predict is a plain function of the batch; it counts
its calls and the rows it saw. `FunctionReplica` runs it in a thread (as an in-process replica
runs a model too slow to run inline), so concurrent requests really overlap a batch in flight.
Pools are the real `ReplicaPool`, with a factory that makes these replicas instead of loading
a package.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from corridor.serving.batcher import Batcher
from corridor.serving.deployment import LiveDeployment, ServedVersion
from corridor.serving.replicas.base import Replica, ReplicaSpec
from corridor.serving.replicas.pool import ReplicaPool
from corridor.serving.sampling import RequestSampler
from corridor.serving.spec import DeploymentSpec
from corridor.serving.tensors import Batch, ModelSignature, TensorSpec

VECTOR = ModelSignature(
    inputs=(TensorSpec("x", "FP32", (-1, 4)),), outputs=(TensorSpec("y", "FP32", (-1, 4)),)
)


class FunctionModel:
    """A model whose answer is ``function(batch)``; ``delay_s`` of work per call."""

    def __init__(
        self,
        function: Callable[[Batch], Batch],
        *,
        signature: ModelSignature = VECTOR,
        delay_s: float = 0.0,
        start_s: float = 0.0,
    ) -> None:
        self.function = function
        self.signature = signature
        self.kind = "tensors"
        self.delay_s = delay_s
        self.start_s = start_s
        self.calls = 0
        self.batch_rows: list[int] = []

    def predict(self, inputs: Batch) -> Batch:
        self.calls += 1
        self.batch_rows.append(len(next(iter(inputs.values()))))
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.function(inputs)


def scaled(factor: float) -> FunctionModel:
    """``y = x * factor``: every row's answer says which model gave it."""
    return FunctionModel(lambda b: {"y": (b["x"] * factor).astype(np.float32)})


def failing() -> FunctionModel:
    def fail(_: Batch) -> Batch:
        raise RuntimeError("the shadow model is broken")

    return FunctionModel(fail)


class FunctionReplica:
    def __init__(self, name: str, model: FunctionModel, *, inline: bool = False) -> None:
        self.name = name
        self.model = model
        self.inline = inline
        self.outstanding = 0
        self.signature = model.signature
        self.kind = "tensors"

    async def start(self) -> None:
        if self.model.start_s:
            await asyncio.sleep(self.model.start_s)

    async def infer(self, inputs: Batch) -> Batch:
        self.outstanding += 1
        try:
            if self.inline:  # on the event loop, as an in-process replica runs a tiny model
                return self.model.predict(inputs)
            return await asyncio.to_thread(self.model.predict, inputs)
        finally:
            self.outstanding -= 1

    async def healthy(self) -> bool:
        return True

    async def stop(self) -> None:
        pass


def pool_of(model: FunctionModel, replicas: int = 1, *, inline: bool = False) -> ReplicaPool:
    spec = ReplicaSpec(version_key="m/1", package_path=Path("."), manifest_json=b"{}")

    def factory(spec: ReplicaSpec, keys: list[bytes], name: str) -> Replica:
        return FunctionReplica(name, model, inline=inline)  # type: ignore[return-value]

    return ReplicaPool(spec, [], replicas=replicas, factory=factory)


async def live_deployment(
    spec: DeploymentSpec,
    models: dict[int, FunctionModel],
    *,
    name: str = "dep",
    sampler: RequestSampler | None = None,
) -> LiveDeployment:
    """A started deployment of ``spec`` whose version N runs ``models[N]`` (the shadow too)."""
    served: dict[int, ServedVersion] = {}
    for version, model in models.items():
        pool = pool_of(model)
        await pool.start()
        served[version] = ServedVersion(
            model="m",
            version=version,
            signature=model.signature,
            kind="tensors",
            platform="corridor-function",
            pool=pool,
            batcher=Batcher(pool, spec.batching),
        )
    shadow = served[spec.shadow.version] if spec.shadow is not None else None
    return LiveDeployment(
        name=name,
        project_id="p",
        deployment_id=f"id-{name}",
        spec=spec,
        versions={r.version: served[r.version] for r in spec.routes},
        shadow=shadow,
        sampler=sampler,
    )


async def stop(deployment: LiveDeployment) -> None:
    await deployment.recorder.drain()
    for served in deployment.served():
        await served.batcher.close()
        await served.pool.stop()
