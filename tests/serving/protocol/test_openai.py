"""The OpenAI-style wire format, spoken with the real ``openai`` client.

The client runs unchanged; its HTTP transport hands each request to our parser and encoders
in-process (the gateway's tests cover the same client over a real socket)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import numpy as np
import numpy.typing as npt
import openai
import pytest
from openai.types import CreateEmbeddingResponse

from corridor.errors import CorridorError, InvalidInput, NotFound, PayloadTooLarge
from corridor.serving.protocol.openai import (
    EmbeddingsRequest,
    InvalidParameter,
    ModelCard,
    check_dimensions,
    count_tokens,
    encode_embeddings_response,
    encode_error,
    encode_model_list,
    parse_embeddings_request,
)

DIMENSIONS = 4
MODELS = [ModelCard("minilm", 1_765_000_000, "default"), ModelCard("mlp", 1_765_000_100, "acme")]


def embed(texts: tuple[str, ...]) -> npt.NDArray[np.float32]:
    """A stand-in embedder with exactly representable values."""
    return np.array([[len(t), count_tokens([t]), 0.5, -1.25] for t in texts], dtype=np.float32)


class Gateway:
    """Our wire format behind an httpx transport; remembers the bodies it was sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        try:
            if request.url.path == "/v1/models":
                return self._json(200, encode_model_list(MODELS))
            self.sent.append(json.loads(request.content))
            parsed = parse_embeddings_request(request.content)
            if parsed.model not in {m.id for m in MODELS}:
                raise NotFound(f"no deployment is named {parsed.model!r}")
            check_dimensions(parsed, DIMENSIONS)
            body = encode_embeddings_response(
                parsed.model,
                embed(parsed.texts),
                encoding_format=parsed.encoding_format,
                prompt_tokens=count_tokens(parsed.texts),
            )
            return self._json(200, body)
        except CorridorError as error:
            return self._json(*encode_error(error))

    @staticmethod
    def _json(status: int, body: bytes) -> httpx2.Response:
        return httpx2.Response(status, content=body, headers={"content-type": "application/json"})


@pytest.fixture(scope="module")
def gateway() -> Gateway:
    return Gateway()


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Iterator[openai.OpenAI]:
    http = httpx2.Client(transport=httpx2.MockTransport(gateway))
    with openai.OpenAI(
        api_key="token", base_url="http://gateway.test/v1", http_client=http, max_retries=0
    ) as client:
        yield client


def test_the_client_default_base64_embeddings_decode_to_our_vectors(
    client: openai.OpenAI, gateway: Gateway
) -> None:
    texts = ["a small cat", "hello"]
    response = client.embeddings.create(model="minilm", input=texts)
    assert gateway.sent[-1]["encoding_format"] == "base64"
    assert [d.index for d in response.data] == [0, 1]
    assert [d.embedding for d in response.data] == embed(tuple(texts)).tolist()
    assert response.model == "minilm"
    assert response.usage.prompt_tokens == response.usage.total_tokens == 4


def test_float_embeddings_of_one_string(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model="minilm", input="hi there", encoding_format="float")
    assert response.data[0].embedding == [8.0, 2.0, 0.5, -1.25]


def test_float_responses_validate_as_the_clients_own_type() -> None:
    body = encode_embeddings_response(
        "minilm", embed(("x",)), encoding_format="float", prompt_tokens=1
    )
    parsed = CreateEmbeddingResponse.model_validate_json(body)
    assert parsed.object == "list"
    assert parsed.data[0].object == "embedding"
    assert parsed.data[0].embedding == [1.0, 1.0, 0.5, -1.25]


def test_base64_vectors_are_little_endian_float32() -> None:
    vectors = np.array([[0.1, -2.0, 3.5]], dtype=np.float64)
    doc = json.loads(
        encode_embeddings_response("m", vectors, encoding_format="base64", prompt_tokens=0)
    )
    raw = base64.b64decode(doc["data"][0]["embedding"])
    np.testing.assert_array_equal(np.frombuffer(raw, dtype="<f4"), vectors[0].astype(np.float32))


def test_the_model_list_parses_in_the_client(client: openai.OpenAI) -> None:
    models = list(client.models.list())
    assert [(m.id, m.object, m.created, m.owned_by) for m in models] == [
        ("minilm", "model", 1_765_000_000, "default"),
        ("mlp", "model", 1_765_000_100, "acme"),
    ]


def test_token_ids_are_refused_with_send_text(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="minilm", input=[[1, 2, 3]])
    assert "send text" in caught.value.message
    assert caught.value.param == "input"
    assert caught.value.code == "invalid_input"


def test_a_dimensions_the_model_does_not_produce_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="minilm", input="x", dimensions=8)
    assert "4-dimensional" in caught.value.message
    assert caught.value.param == "dimensions"
    assert client.embeddings.create(model="minilm", input="x", dimensions=4).data


def test_an_unknown_model_is_404_in_openais_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.embeddings.create(model="nope", input="x")
    assert caught.value.body == {
        "message": "no deployment is named 'nope'",
        "type": "not_found_error",
        "param": None,
        "code": "not_found",
    }


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        ({"input": "x"}, "model", "'model'"),
        ({"model": "m"}, "input", "'input' must be a string"),
        ({"model": "m", "input": []}, "input", "non-empty list"),
        ({"model": "m", "input": [1, 2]}, "input", "send text"),
        ({"model": "m", "input": ["a", 3.5]}, "input", "must be a string"),
        ({"model": "m", "input": [""]}, "input", "empty strings"),
        ({"model": "m", "input": "x", "encoding_format": "int8"}, "encoding_format", "'float'"),
        ({"model": "m", "input": "x", "dimensions": 0}, "dimensions", "positive integer"),
        ({"model": "m", "input": "x", "dimensions": "4"}, "dimensions", "positive integer"),
        ({"model": "m", "input": "x", "user": 7}, "user", "'user'"),
    ],
)
def test_malformed_embeddings_requests_name_the_parameter(
    body: dict[str, Any], param: str, says: str
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_embeddings_request(json.dumps(body).encode())
    assert caught.value.param == param
    assert says in caught.value.message


def test_bodies_that_are_not_a_json_object_are_400() -> None:
    for body in (b"{", b"[]"):
        with pytest.raises(InvalidInput):
            parse_embeddings_request(body)
    status, error = encode_error(InvalidInput("bad"))
    assert status == 400
    assert json.loads(error)["error"]["type"] == "invalid_request_error"


def test_more_texts_than_the_limit_is_413() -> None:
    body = json.dumps({"model": "m", "input": ["a"] * 3}).encode()
    with pytest.raises(PayloadTooLarge, match="limit of 2"):
        parse_embeddings_request(body, max_inputs=2)


def test_parsed_defaults() -> None:
    parsed = parse_embeddings_request(b'{"model": "m", "input": "a b  c"}')
    assert parsed == EmbeddingsRequest("m", ("a b  c",), "float", None, None)
    assert count_tokens(parsed.texts) == 3
