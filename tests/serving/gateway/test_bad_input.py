"""Bad requests get the right 4xx and a message; afterwards a normal request still succeeds."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest

from tests.serving.gateway.conftest import assert_mlp_answers, infer_json, rows
from tests.serving.world import World


@pytest.fixture(scope="module")
def http(world: World) -> Iterator[httpx.Client]:
    with world.http(world.editor_token) as client:
        yield client


def _post(http: httpx.Client, body: bytes, **headers: str) -> httpx.Response:
    return http.post("/v2/models/mlp/infer", content=body, headers=headers)


def _binary_request(x: np.ndarray, declared_size: int) -> tuple[bytes, int]:
    import orjson

    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(x.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": declared_size},
                }
            ]
        }
    )
    return header + x.tobytes(), len(header)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[]", 400, "JSON object"),
        (b'{"inputs": []}', 400, "non-empty 'inputs'"),
        (
            b'{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [1]}]}',
            400,
            "",
        ),
        (
            b'{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", '
            b'"data": [1, 2, 3]}]}',
            400,
            "input FP32 [-1, 64]",
        ),
        (
            b'{"inputs": [{"name": "input", "shape": [1, 20000000], "datatype": "FP32", '
            b'"data": [1]}]}',
            413,
            "max_elements",
        ),
        (
            b'{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP99", "data": []}]}',
            400,
            "FP99",
        ),
    ],
    ids=["malformed", "not-object", "no-inputs", "count", "shape", "too-many", "datatype"],
)
def test_malformed_requests_are_refused_with_a_message(
    http: httpx.Client, world: World, body: bytes, status: int, message: str
) -> None:
    response = _post(http, body, **{"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert_mlp_answers(http, world)


def test_nan_is_refused_where_the_signature_forbids_it(http: httpx.Client, world: World) -> None:
    x = rows(1)
    x[0, 5] = np.nan
    body, length = _binary_request(x, x.nbytes)
    response = _post(http, body, **{"inference-header-content-length": str(length)})
    assert response.status_code == 400
    assert "NaN" in response.json()["error"]
    assert_mlp_answers(http, world)


@pytest.mark.parametrize(
    ("declared", "extra", "header_delta", "message"),
    [
        (64 * 4 + 8, b"", 0, "binary_data_size"),
        (64 * 4 - 8, b"", 0, "element count"),
        (64 * 4, b"12345678", 0, "bytes follow"),
        (64 * 4, b"", 10**6, "only"),
    ],
    ids=["size-over-body", "size-under-elements", "left-over-bytes", "header-length-over-body"],
)
def test_bad_binary_framing_is_refused(
    http: httpx.Client, world: World, declared: int, extra: bytes, header_delta: int, message: str
) -> None:
    body, length = _binary_request(rows(1), declared)
    response = _post(
        http, body + extra, **{"inference-header-content-length": str(length + header_delta)}
    )
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert_mlp_answers(http, world)


def test_a_body_over_the_limit_is_refused_before_it_is_read(world: World) -> None:
    url = urlparse(world.url)
    head = (
        "POST /v2/models/mlp/infer HTTP/1.1\r\n"
        f"host: {url.hostname}\r\n"
        f"authorization: Bearer {world.editor_token}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {10**10}\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode())
        chunks = []
        while chunk := sock.recv(65536):  # the server closes the connection after a 413
            chunks.append(chunk)
        answer = b"".join(chunks).decode("latin-1")
    status_line, _, rest = answer.partition("\r\n")
    assert " 413 " in status_line
    assert "serving_max_request_bytes" in rest
    with world.http(world.editor_token) as http:
        assert_mlp_answers(http, world)


def test_an_unknown_model_is_404_and_a_wrong_input_name_400(
    http: httpx.Client, world: World
) -> None:
    missing = http.post("/v2/models/nope/infer", json=infer_json(rows(1)))
    assert missing.status_code == 404
    assert missing.json() == {"error": "model 'nope' not found"}
    renamed = infer_json(rows(1))
    renamed["inputs"][0]["name"] = "x"  # type: ignore[index]
    wrong = http.post("/v2/models/mlp/infer", json=renamed)
    assert wrong.status_code == 400
    assert "input FP32 [-1, 64]" in wrong.json()["error"]
    assert_mlp_answers(http, world)
