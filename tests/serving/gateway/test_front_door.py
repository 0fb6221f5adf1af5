from __future__ import annotations

import httpx
import numpy as np
import pytest

from tests.serving.gateway.conftest import (
    assert_mlp_answers,
    expected_logits,
    infer_json,
    rows,
    wait_ready,
)
from tests.serving.world import MLP, World


def test_health_and_server_metadata_are_public(world: World) -> None:
    with httpx.Client(base_url=world.url) as anonymous:
        assert anonymous.get("/v2/health/live").json() == {"live": True}
        assert anonymous.get("/v2/health/ready").json() == {"ready": True}
        meta = anonymous.get("/v2").json()
        assert meta["name"] == "corridor"
        assert "binary_tensor_data" in meta["extensions"]


def test_other_routes_pass_through_to_the_server(world: World) -> None:
    with httpx.Client(base_url=world.url) as anonymous:
        assert anonymous.get("/healthz").json()["status"] == "ok"
        # The server's own routes keep their own answers (and their 401 shape).
        assert anonymous.get("/api/v1/projects").status_code == 401


def test_json_infer_answers_with_the_models_logits(world: World) -> None:
    with world.http(world.editor_token) as http:
        x = rows(4)
        response = http.post("/v2/models/mlp/infer", json={**infer_json(x), "id": "req-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "mlp"
    assert body["id"] == "req-1"
    (output,) = body["outputs"]
    assert output["name"] == "logits"
    assert output["datatype"] == "FP32"
    assert output["shape"] == [4, 10]
    got = np.asarray(output["data"], dtype=np.float32).reshape(4, 10)
    np.testing.assert_allclose(got, expected_logits(world, x), rtol=1e-4, atol=1e-5)


def test_an_explicit_version_is_served_by_that_version(world: World) -> None:
    with world.http(world.editor_token) as http:
        x = rows(2, seed=3)
        response = http.post("/v2/models/mlp/versions/1/infer", json=infer_json(x))
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == "1"
        missing = http.post("/v2/models/mlp/versions/9/infer", json=infer_json(x))
    assert missing.status_code == 404
    assert "no version '9'" in missing.json()["error"]


def test_model_metadata_and_readiness_need_a_token_and_any_role(world: World) -> None:
    with httpx.Client(base_url=world.url) as anonymous:
        refused = anonymous.get("/v2/models/mlp")
        assert refused.status_code == 401
        assert "Bearer" in refused.json()["error"]
    with world.http(world.viewer_token) as http:
        meta = http.get("/v2/models/mlp").json()
        assert http.get("/v2/models/mlp/ready").status_code == 200
        assert http.get("/v2/models/mlp/versions/1").status_code == 200
    assert meta["name"] == "mlp"
    assert meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
    assert meta["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]


def test_unknown_paths_and_methods_under_v2_answer_in_the_protocols_shape(world: World) -> None:
    with world.http(world.editor_token) as http:
        unknown = http.get("/v2/repository/index")
        assert unknown.status_code == 404
        assert "error" in unknown.json()
        wrong_method = http.get("/v2/models/mlp/infer")
        assert wrong_method.status_code == 405
        assert "POST" in wrong_method.json()["error"]
        assert_mlp_answers(http, world)


@pytest.fixture(scope="module")
def sticky(world: World) -> str:
    name = "gw-sticky"
    with world.client() as admin:
        admin.serving.deploy(
            name, f"{MLP}@production", canary=[(f"{MLP}@candidate", 50)], sticky_header="x-user"
        )
    wait_ready(world, name)
    return name


def test_the_sticky_header_keeps_a_caller_on_one_version(world: World, sticky: str) -> None:
    x = rows(1, seed=21)
    answers = {v: expected_logits(world, x, version=v) for v in (1, 2)}
    seen: dict[str, set[int]] = {}
    with world.http(world.editor_token) as http:
        for user in ("ann", "bob", "cy", "dee", "eve", "fay"):
            for _ in range(3):
                response = http.post(
                    f"/v2/models/{sticky}/infer", json=infer_json(x), headers={"x-user": user}
                )
                assert response.status_code == 200, response.text
                got = np.asarray(response.json()["outputs"][0]["data"], dtype=np.float32)
                version = next(
                    v for v, want in answers.items() if np.allclose(got, want.ravel(), atol=1e-5)
                )
                seen.setdefault(user, set()).add(version)
    assert all(len(versions) == 1 for versions in seen.values()), seen
