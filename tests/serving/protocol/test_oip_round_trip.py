"""Requests built by the real tritonclient parse into the arrays it was given; our responses
parse back in tritonclient into the arrays we sent. Every datatype, JSON and binary."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tritonclient.http import (  # type: ignore[import-untyped]
    InferenceServerClient,
    InferInput,
    InferRequestedOutput,
)

from corridor.serving.protocol.oip import (
    InferRequest,
    RequestedOutput,
    TensorLimits,
    parse_infer_request,
    select_outputs,
)
from corridor.serving.protocol.oip_response import encode_infer_response
from corridor.serving.tensors import DATATYPES

LIMITS = TensorLimits()

SAMPLES: dict[str, npt.NDArray[Any]] = {
    "BOOL": np.array([[True, False, True], [False, False, True]]),
    "UINT8": np.array([[0, 255, 7]], dtype=np.uint8),
    "UINT16": np.array([[0, 65535, 7]], dtype=np.uint16),
    "UINT32": np.array([[0, 2**32 - 1, 7]], dtype=np.uint32),
    "UINT64": np.array([[0, 2**64 - 1, 7]], dtype=np.uint64),
    "INT8": np.array([[-128, 127, 0]], dtype=np.int8),
    "INT16": np.array([[-(2**15), 2**15 - 1, 0]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 2**31 - 1, 0]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 2**63 - 1, 0]], dtype=np.int64),
    "FP16": np.array([[0.5, -65504.0, 0.0999755859375]], dtype=np.float16),
    "FP32": np.array([[0.1, -3.4e38, 1e-30], [1.0, 2.0, 3.0]], dtype=np.float32),
    "FP64": np.array([[0.1, -1.7e308, 5e-324]], dtype=np.float64),
    "BYTES": np.array([[b"text", b"", "\u00e9t\u00e9".encode()]], dtype=object),
}


def triton_body(
    arrays: dict[str, npt.NDArray[Any]],
    *,
    binary: bool,
    outputs: list[InferRequestedOutput] | None = None,
    request_id: str = "",
) -> tuple[bytes, int | None]:
    inputs = []
    for name, array in arrays.items():
        datatype = "BYTES" if array.dtype == object else _datatype(array)
        tensor = InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    body, json_size = InferenceServerClient.generate_request_body(
        inputs, outputs=outputs, request_id=request_id
    )
    return body, json_size


def _datatype(array: npt.NDArray[Any]) -> str:
    return next(name for name, dtype in DATATYPES.items() if dtype == array.dtype)


def parse(body: bytes | bytearray, header_length: int | None) -> InferRequest:
    return parse_infer_request(body, header_length, limits=LIMITS)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_every_datatype_from_tritonclient_parses_to_the_same_array(binary: bool) -> None:
    body, json_size = triton_body(SAMPLES, binary=binary, request_id="r-1")
    request = parse(body, json_size)

    assert request.id == "r-1"
    assert [t.name for t in request.inputs] == list(SAMPLES)
    for tensor in request.inputs:
        expected = SAMPLES[tensor.name]
        assert tensor.datatype == tensor.name
        assert tensor.array.dtype == DATATYPES[tensor.name]
        assert tensor.array.shape == expected.shape
        np.testing.assert_array_equal(tensor.array, expected)
    # tritonclient asks for binary outputs when it names no outputs.
    assert request.outputs is None
    assert request.binary_data_output is True


def test_binary_tensors_from_an_immutable_body_are_writable_copies() -> None:
    body, json_size = triton_body({"FP32": SAMPLES["FP32"]}, binary=True)
    array = parse(body, json_size).inputs[0].array
    assert array.flags.writeable
    array[0, 0] = 42.0  # the model may write to its input


def test_binary_tensors_from_a_bytearray_body_use_it_in_place() -> None:
    body, json_size = triton_body({"FP32": SAMPLES["FP32"]}, binary=True)
    buffer = bytearray(body)
    array = parse(buffer, json_size).inputs[0].array
    assert array.flags.writeable
    array[0, 0] = 42.0
    assert np.frombuffer(buffer, dtype="<f4", count=1, offset=json_size or 0)[0] == 42.0


def test_requested_outputs_carry_their_binary_choice() -> None:
    outputs = [InferRequestedOutput("a", binary_data=True), InferRequestedOutput("b", False)]
    body, json_size = triton_body({"FP32": SAMPLES["FP32"]}, binary=False, outputs=outputs)
    request = parse(body, json_size)
    assert request.outputs == (RequestedOutput("a", True), RequestedOutput("b", False))
    chosen, binary = select_outputs(request, {"b": np.zeros(1), "a": np.ones(1), "c": np.zeros(2)})
    assert list(chosen) == ["a", "b"]
    assert binary == {"a"}


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_every_datatype_in_a_response_parses_back_in_tritonclient(binary: bool) -> None:
    outputs = dict(SAMPLES)
    body, headers = encode_infer_response("mlp", "3", "r-9", outputs, binary=binary)
    length = headers.get("inference-header-content-length")
    assert (length is not None) == binary
    assert headers["content-type"] == ("application/octet-stream" if binary else "application/json")
    result = InferenceServerClient.parse_response_body(
        body, header_length=int(length) if length else None
    )
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (
        "mlp",
        "3",
        "r-9",
    )
    for name, expected in outputs.items():
        got = result.as_numpy(name)
        assert got.shape == expected.shape
        if name == "BYTES" and not binary:
            # JSON carries BYTES as text; tritonclient hands back str.
            expected = np.array([[b.decode() for b in expected.ravel()]], dtype=object)
        np.testing.assert_array_equal(got, expected)


def test_a_response_mixes_binary_and_json_outputs_as_asked() -> None:
    outputs: dict[str, npt.NDArray[Any]] = {
        "logits": np.arange(6, dtype=np.float32).reshape(2, 3),
        "ids": np.arange(2),
    }
    body, headers = encode_infer_response("m", None, None, outputs, binary={"logits"})
    result = InferenceServerClient.parse_response_body(
        body, header_length=int(headers["inference-header-content-length"])
    )
    assert "data" in result.get_output("ids")
    assert "data" not in result.get_output("logits")
    np.testing.assert_array_equal(result.as_numpy("logits"), outputs["logits"])
    np.testing.assert_array_equal(result.as_numpy("ids"), outputs["ids"])


def test_nan_outputs_in_json_come_back_as_nan() -> None:
    outputs = {"y": np.array([1.0, np.nan], dtype=np.float32)}
    body, _ = encode_infer_response("m", None, None, outputs, binary=False)
    got = InferenceServerClient.parse_response_body(body).as_numpy("y")
    assert got[0] == 1.0
    assert np.isnan(got[1])


_NUMERIC = [name for name in DATATYPES if name != "BYTES"]


@st.composite
def tensors(draw: st.DrawFn) -> npt.NDArray[Any]:
    datatype = draw(st.sampled_from(_NUMERIC))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5))
    return draw(hnp.arrays(DATATYPES[datatype], shape))


@settings(max_examples=30, deadline=None)
@given(arrays=st.lists(tensors(), min_size=1, max_size=3), binary=st.booleans())
def test_any_numeric_tensors_round_trip_through_tritonclient(
    arrays: list[npt.NDArray[Any]], binary: bool
) -> None:
    named = {f"in{i}": array for i, array in enumerate(arrays)}
    body, json_size = triton_body(named, binary=binary)
    request = parse(body, json_size)
    for tensor in request.inputs:
        np.testing.assert_array_equal(tensor.array, named[tensor.name])
        assert tensor.array.dtype == named[tensor.name].dtype

    answer, headers = encode_infer_response("m", None, None, named, binary=True)
    result = InferenceServerClient.parse_response_body(
        answer, header_length=int(headers["inference-header-content-length"])
    )
    for name, array in named.items():
        np.testing.assert_array_equal(result.as_numpy(name), array)


@settings(max_examples=25, deadline=None)
@given(texts=st.lists(st.binary(max_size=20), min_size=0, max_size=6), binary=st.booleans())
def test_any_bytes_tensor_round_trips_through_tritonclient(
    texts: list[bytes], binary: bool
) -> None:
    if not binary:
        texts = [t.decode("utf-8", "replace").encode() for t in texts]
    array = np.empty(len(texts), dtype=object)
    array[:] = texts
    body, json_size = triton_body({"t": array}, binary=binary)
    got = parse(body, json_size).inputs[0].array
    assert got.dtype == object
    assert list(got) == texts
