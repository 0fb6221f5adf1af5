"""The Ray replica, checked on a Ray test cluster this process has joined.

It runs on the compute slice's module cluster (``tests/compute/ray``: a second cluster would
cost about 20 s of the suite), from a test there that passes its joined cluster in.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import ray

from corridor.errors import InvalidInput
from corridor.serving.replicas.base import ReplicaCrashed
from corridor.serving.replicas.ray_actor import ModelActor, RayReplica, read_package
from corridor.serving.replicas.registry import start_replica
from tests.compute.ray.conftest import RayTestCluster
from tests.serving.replicas.packages import FEATURES, build_linear_package

ROWS = np.random.default_rng(2).standard_normal((5, FEATURES))


def check_ray_replica(cluster: RayTestCluster, folder: Path) -> None:
    """A replica in an actor on site ``a``'s node answers as an in-process one does, refuses
    bad input without dying, and raises `ReplicaCrashed` once its actor's process is killed;
    an actor whose package folder is absent where it runs loads the files it is sent."""
    spec, keys = build_linear_package(folder)
    site = cluster.site("serving", {"site_a": 1})
    on_ray = replace(spec, kind="ray", ray_site=site, resources={"CPU": 1})

    async def scenario() -> None:
        local = await start_replica(spec, keys)
        expected = (await local.infer({"input": ROWS}))["output"]
        await local.stop()
        replica = await start_replica(on_ray, keys, "linear/1#ray")
        assert isinstance(replica, RayReplica)
        try:
            assert replica.signature.describe() == local.signature.describe()
            answer = (await replica.infer({"input": ROWS}))["output"]
            np.testing.assert_array_equal(answer, expected)
            assert answer.flags.writeable
            with pytest.raises(InvalidInput):
                await replica.infer({"input": np.zeros((2, FEATURES + 1))})
            assert await replica.healthy()
            os.kill(await replica.actor.ping.remote(), signal.SIGKILL)
            with pytest.raises(ReplicaCrashed):
                await replica.infer({"input": ROWS})
            assert not await replica.healthy()
        finally:
            await replica.stop()
        await replica.stop()  # idempotent
        with pytest.raises(ReplicaCrashed):
            await replica.infer({"input": ROWS})

    asyncio.run(scenario())
    sent = ModelActor(
        str(folder / "absent"),
        [ray.put(read_package(folder))],
        spec.manifest_json,
        keys,
        None,
        "cpu",
        spec.version_key,
    )
    try:
        (local_answer,) = sent.infer({"input": ROWS}).values()
        assert local_answer.shape == (len(ROWS), 3)
    finally:
        sent.close()
