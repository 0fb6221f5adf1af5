"""Metadata and error bodies of the OIP routes, and what JSON cannot carry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corridor.errors import (
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)
from corridor.serving.protocol.oip_response import (
    encode_infer_response,
    encode_json,
    error_body,
    error_status,
    model_metadata,
    server_metadata,
)
from corridor.serving.tensors import ModelSignature, TensorSpec

SIGNATURE = ModelSignature(
    inputs=(TensorSpec("input", "FP32", (-1, 64)),),
    outputs=(TensorSpec("logits", "FP32", (-1, 10)),),
)


def test_server_metadata_names_corridor_and_the_binary_extension() -> None:
    assert json.loads(server_metadata("0.1.0")) == {
        "name": "corridor",
        "version": "0.1.0",
        "extensions": ["binary_tensor_data"],
    }


def test_model_metadata_lists_versions_and_tensors() -> None:
    doc = json.loads(encode_json(model_metadata("mlp", ["3", "4"], "torch", SIGNATURE)))
    assert doc == {
        "name": "mlp",
        "versions": ["3", "4"],
        "platform": "torch",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}],
    }


def test_error_bodies_have_the_oip_shape() -> None:
    assert json.loads(error_body('model "x" is unknown')) == {"error": 'model "x" is unknown'}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput("bad"), 400),
        (PayloadTooLarge("big"), 413),
        (NotFound("gone"), 404),
        (Unauthenticated("who"), 401),
        (TooManyRequests("slow down"), 429),
        (Unavailable("later"), 503),
    ],
)
def test_error_statuses_follow_kserve(error: InvalidInput, status: int) -> None:
    assert error_status(error) == status


def test_bytes_outputs_that_are_not_utf8_must_be_asked_for_as_binary() -> None:
    outputs = {"raw": np.array([b"\xff\xfe"], dtype=object)}
    with pytest.raises(InvalidInput, match="binary_data"):
        encode_infer_response("m", None, None, outputs, binary=False)
    body, headers = encode_infer_response("m", None, None, outputs, binary=True)
    assert body.endswith(b"\x02\x00\x00\x00\xff\xfe")
    assert headers["content-type"] == "application/octet-stream"


def test_string_and_non_contiguous_outputs_are_written_row_major() -> None:
    outputs = {
        "labels": np.array([["cat", "dog"]]),
        "t": np.arange(6, dtype=np.int32).reshape(2, 3).T,
    }
    body, _ = encode_infer_response("m", None, None, outputs, binary=False)
    doc = json.loads(body)
    assert doc["outputs"][0] == {
        "name": "labels",
        "datatype": "BYTES",
        "shape": [1, 2],
        "data": ["cat", "dog"],
    }
    assert doc["outputs"][1]["data"] == [0, 3, 1, 4, 2, 5]
    assert doc["outputs"][1]["shape"] == [3, 2]
    assert "id" not in doc
    assert "model_version" not in doc


def test_response_parameters_are_passed_through() -> None:
    body, _ = encode_infer_response(
        "m", "1", "r", {"y": np.zeros(1)}, binary=False, parameters={"batch": 4}
    )
    assert json.loads(body)["parameters"] == {"batch": 4}
