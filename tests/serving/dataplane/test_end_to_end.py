"""The whole path on a real server: a deployment made through the API is loaded by the server's
controller and answers the Open Inference Protocol at /v2/models/NAME/infer."""

from __future__ import annotations

import time

import httpx
import numpy as np
import torch

from tests.serving.world import World

DEADLINE_S = 30.0


def _wait_ready(http: httpx.Client, name: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        reply = http.get(f"/v2/models/{name}/ready")
        if reply.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not ready: {reply.status_code} {reply.text}")
        time.sleep(0.05)


def test_the_deployed_mlp_answers_like_its_torch_module(serving_world: World) -> None:
    x = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    body = {
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [3, 64], "data": x.ravel().tolist()}
        ]
    }
    with serving_world.http(serving_world.editor_token) as http:
        _wait_ready(http, "mlp")
        reply = http.post("/v2/models/mlp/infer", json=body)
        assert reply.status_code == 200, reply.text
        output = reply.json()["outputs"][0]
        assert output["name"] == "logits"
        assert output["shape"] == [3, 10]
        with torch.no_grad():
            expected = serving_world.mlp_reference(1)(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(
            np.array(output["data"], np.float32).reshape(3, 10), expected, rtol=1e-4, atol=1e-5
        )
        metadata = http.get("/v2/models/mlp").json()
        assert metadata["platform"] == "corridor-torch"
        assert metadata["versions"] == ["1"]


def test_a_canary_deployment_made_through_the_api_serves_both_versions(
    serving_world: World,
) -> None:
    with serving_world.client(serving_world.editor_token) as client:
        client.serving.deploy(
            "mlp-canary",
            f"{serving_world.project}/mlp@1",
            canary=[(f"{serving_world.project}/mlp@2", 50.0)],
            project=serving_world.project,
        )
    x = np.zeros((1, 64), np.float32)
    body = {
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [1, 64], "data": x.ravel().tolist()}
        ]
    }
    with serving_world.http(serving_world.editor_token) as http:
        _wait_ready(http, "mlp-canary")
        answers = {
            version: tuple(
                http.post(f"/v2/models/mlp-canary/versions/{version}/infer", json=body).json()[
                    "outputs"
                ][0]["data"]
            )
            for version in (1, 2)
        }
        assert answers[1] != answers[2]
        seen = {
            tuple(http.post("/v2/models/mlp-canary/infer", json=body).json()["outputs"][0]["data"])
            for _ in range(40)
        }
        assert seen == {answers[1], answers[2]}
