"""The gateway's tests share the serving world's server; this waits until its deployments
answer, and offers helpers to call them."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
import torch

from tests.serving.world import World

READY_WAIT_S = 60.0


def wait_ready(world: World, name: str) -> None:
    """Wait until deployment ``name`` has a replica up (it loads after the deploy returns)."""
    deadline = time.monotonic() + READY_WAIT_S
    with world.http() as http:
        while True:
            status = http.get(f"/v2/models/{name}/ready").status_code
            if status == 200:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"deployment {name!r} was not ready in {READY_WAIT_S} s ({status})")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def world(serving_world: World) -> World:
    """The serving world with its ``mlp`` and ``embed`` deployments ready."""
    wait_ready(serving_world, "mlp")
    wait_ready(serving_world, "embed")
    return serving_world


def rows(count: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 64)).astype(np.float32)


def expected_logits(world: World, x: np.ndarray, version: int = 1) -> np.ndarray:
    with torch.no_grad():
        out: np.ndarray = world.mlp_reference(version)(torch.from_numpy(x)).numpy()
    return out


def infer_json(x: np.ndarray) -> dict[str, object]:
    return {
        "inputs": [
            {
                "name": "input",
                "shape": list(x.shape),
                "datatype": "FP32",
                "data": x.ravel().tolist(),
            }
        ]
    }


def assert_mlp_answers(http: httpx.Client, world: World, name: str = "mlp") -> None:
    """A normal JSON request to ``name`` succeeds with the reference model's answer."""
    x = rows(3, seed=7)
    response = http.post(f"/v2/models/{name}/infer", json=infer_json(x))
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    got = np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])
    np.testing.assert_allclose(got, expected_logits(world, x), rtol=1e-4, atol=1e-5)
