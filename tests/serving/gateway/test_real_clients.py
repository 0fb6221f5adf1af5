"""The real clients, unchanged: tritonclient (binary and JSON), kserve's REST client (v2) and
the openai client, against the gateway on the server's own address."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.serving.gateway.conftest import expected_logits, rows
from tests.serving.world import EMBED_DIM, World

httpclient = pytest.importorskip("tritonclient.http")


def _expected_embedding(text: str) -> np.ndarray:
    digest = hashlib.sha256(text.encode()).digest()[:EMBED_DIM]
    vector = np.frombuffer(digest, dtype=np.uint8).astype(np.float32) - 127.5
    return vector / np.linalg.norm(vector)


@pytest.fixture(scope="module")
def triton(world: World) -> Iterator[Any]:
    client = httpclient.InferenceServerClient(url=world.url.removeprefix("http://"))
    yield client
    client.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_infers_in_binary_and_json_modes(
    triton: Any, world: World, binary: bool
) -> None:
    x = rows(5, seed=11)
    tensor = httpclient.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    wanted = httpclient.InferRequestedOutput("logits", binary_data=binary)
    result = triton.infer(
        "mlp", [tensor], outputs=[wanted], headers=_auth(world.editor_token), request_id="t-1"
    )
    np.testing.assert_allclose(
        result.as_numpy("logits"), expected_logits(world, x), rtol=1e-4, atol=1e-5
    )
    assert result.get_response()["id"] == "t-1"


def test_tritonclient_reads_health_and_metadata(triton: Any, world: World) -> None:
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.get_server_metadata()["name"] == "corridor"
    headers = _auth(world.viewer_token)
    assert triton.is_model_ready("mlp", headers=headers)
    meta = triton.get_model_metadata("mlp", headers=headers)
    assert meta["inputs"][0]["shape"] == [-1, 64]


def test_tritonclient_hears_the_errors_status_and_message(triton: Any, world: World) -> None:
    from tritonclient.utils import InferenceServerException  # type: ignore[import-untyped]

    x = rows(1).astype(np.float64)
    tensor = httpclient.InferInput("input", list(x.shape), "FP64")
    tensor.set_data_from_numpy(x, binary_data=True)
    with pytest.raises(InferenceServerException) as caught:
        triton.infer("mlp", [tensor], headers=_auth(world.editor_token))
    assert caught.value.status() == "400"
    assert "input FP32 [-1, 64]" in caught.value.message()
    with pytest.raises(InferenceServerException) as refused:
        triton.infer("mlp", [tensor], headers=_auth(world.viewer_token))
    assert refused.value.status() == "403"


def test_kserve_rest_client_infers_with_protocol_v2(world: World) -> None:
    kserve = pytest.importorskip("kserve")
    x = rows(2, seed=5)

    async def call() -> np.ndarray:
        client = kserve.InferenceRESTClient(config=kserve.RESTConfig(protocol="v2"))
        try:
            tensor = kserve.InferInput(name="input", shape=list(x.shape), datatype="FP32")
            tensor.set_data_from_numpy(x, binary_data=False)
            request = kserve.InferRequest(model_name="mlp", infer_inputs=[tensor])
            headers = _auth(world.editor_token)
            assert await client.is_model_ready(world.url, "mlp", headers=headers)
            response = await client.infer(world.url, request, model_name="mlp", headers=headers)
            out: np.ndarray = response.outputs[0].as_numpy()
            return out
        finally:
            await client.close()

    got = asyncio.run(call())
    np.testing.assert_allclose(got, expected_logits(world, x), rtol=1e-4, atol=1e-5)


def test_openai_client_embeds_and_lists_models(world: World) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=world.url + "/v1", api_key=world.editor_token)
    texts = ["hello world", "a second text"]
    # Without encoding_format the client asks for base64 and decodes it itself.
    for result in (
        client.embeddings.create(model="embed", input=texts),
        client.embeddings.create(model="embed", input=texts, encoding_format="float"),
    ):
        assert [d.index for d in result.data] == [0, 1]
        for text, datum in zip(texts, result.data, strict=True):
            np.testing.assert_allclose(datum.embedding, _expected_embedding(text), rtol=1e-6)
        assert result.usage.prompt_tokens == 5
        assert result.model == "embed"
    single = client.embeddings.create(model="embed", input="one")
    assert len(single.data) == 1
    assert len(single.data[0].embedding) == EMBED_DIM
    listed = [m.id for m in client.models.list()]
    assert listed == ["embed"]  # only embedding deployments
    card = client.models.retrieve("embed")
    assert card.id == "embed"
    assert card.owned_by == world.project


def test_openai_client_hears_errors_in_openais_shape(world: World) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=world.url + "/v1", api_key=world.viewer_token, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        client.embeddings.create(model="embed", input="hi")
    editor = openai.OpenAI(base_url=world.url + "/v1", api_key=world.editor_token, max_retries=0)
    with pytest.raises(openai.NotFoundError, match="not an embedding model"):
        editor.embeddings.create(model="mlp", input="hi")
    with pytest.raises(openai.BadRequestError) as caught:
        editor.embeddings.create(model="embed", input="hi", dimensions=3)
    assert caught.value.body["param"] == "dimensions"
    bad = openai.OpenAI(base_url=world.url + "/v1", api_key="cor_" + "x" * 43, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model="embed", input="hi")


def test_a_large_binary_request_is_answered_in_full(triton: Any, world: World) -> None:
    x = rows(2048, seed=13)  # 512 KiB: parsed off the event loop
    tensor = httpclient.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=True)
    wanted = httpclient.InferRequestedOutput("logits", binary_data=True)
    result = triton.infer("mlp", [tensor], outputs=[wanted], headers=_auth(world.editor_token))
    np.testing.assert_allclose(
        result.as_numpy("logits"), expected_logits(world, x), rtol=1e-4, atol=1e-5
    )
