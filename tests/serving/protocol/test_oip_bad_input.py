"""Hostile and malformed OIP requests: each is a clear `InvalidInput` (400) or, over a limit,
`PayloadTooLarge` (413) naming the limit; nothing else ever escapes the parser."""

from __future__ import annotations

import contextlib
import json
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.errors import InvalidInput, PayloadTooLarge
from corridor.serving.protocol.oip import (
    TensorLimits,
    header_length_of,
    parse_infer_request,
    select_outputs,
)

LIMITS = TensorLimits()


def json_body(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def binary_body(inputs: list[dict[str, Any]], tail: bytes) -> tuple[bytes, int]:
    header = json.dumps({"inputs": inputs}).encode()
    return header + tail, len(header)


def tensor(data: Any, shape: Any, datatype: Any = "FP32", name: str = "x") -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


def binary_input(size: Any, shape: list[int], datatype: str = "FP32") -> dict[str, Any]:
    return {
        "name": "x",
        "datatype": datatype,
        "shape": shape,
        "parameters": {"binary_data_size": size},
    }


def refused(body: bytes | bytearray, header_length: int | None = None, **limits: int) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_infer_request(body, header_length, limits=TensorLimits(**limits))
    assert caught.type is InvalidInput or caught.type is PayloadTooLarge
    return caught.value.message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"inputs": []}', "non-empty 'inputs'"),
        (b'{"inputs": {"name": "x"}}', "non-empty 'inputs'"),
        (b'{"inputs": [7]}', "input 0 must be a JSON object"),
        (json_body({"datatype": "FP32", "shape": [1], "data": [1]}), "needs a 'name'"),
        (json_body(tensor([1], [1], "FP8")), "datatype 'FP8' is not one of"),
        (json_body(tensor([1], [1], "BF16")), "datatype 'BF16' is not one of"),
        (json_body(tensor([1], [1], "fp32")), "datatype 'fp32' is not one of"),
        (json_body(tensor([1], [1], ["FP32"])), "datatype ['FP32'] is not one of"),
        (json_body(tensor([1], [1] * 33)), "at most 32"),
        (json_body(tensor([1, 2], [3])), "its shape holds 3 elements but 'data' has 2"),
        (json_body(tensor([[1, 2], [3, 4]], [3])), "its shape holds 3 elements but 'data' has 4"),
        (json_body(tensor([1], [-1])), "non-negative integers"),
        (json_body(tensor([1], [1.0])), "non-negative integers"),
        (json_body(tensor([1], ["1"])), "non-negative integers"),
        (json_body(tensor([1], [True])), "non-negative integers"),
        (json_body(tensor([1], None)), "needs a 'shape'"),
        (json_body(tensor("1", [1])), "'data' must be a list"),
        (
            json_body(
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": [1],
                    "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 4},
                }
            ),
            "in the request only",
        ),
        (json_body({"name": "x", "datatype": "FP32", "shape": [1]}), "no 'data'"),
        (json_body(tensor(["1.0"], [1])), "must be numbers"),
        (json_body(tensor(["NaN"], [1])), "must be numbers"),
        (json_body(tensor([None], [1])), "must be numbers"),
        (json_body(tensor([{}], [1])), "must be numbers"),
        (json_body(tensor([1, "a"], [2])), "must be numbers"),
        (json_body(tensor([[1, 2], [3]], [3])), "evenly nested"),
        (json_body(tensor([1e300], [1])), "beyond the range of FP32"),
        (json_body(tensor([70000], [1], "FP16")), "beyond the range of FP16"),
        (json_body(tensor([1.5], [1], "INT32")), "must be integers"),
        (json_body(tensor([300], [1], "INT8")), "outside the range of INT8"),
        (json_body(tensor([-1], [1], "UINT32")), "outside the range of UINT32"),
        (json_body(tensor([2**63], [1], "INT64")), "outside the range of INT64"),
        (json_body(tensor([-1, 2**64 - 1], [2], "UINT64")), "outside the range of UINT64"),
        (json_body(tensor([-1, 2**63], [2], "INT64")), "outside the range of INT64"),
        (json_body(tensor([2**70], [1], "INT64")), "INT64 data must be integers"),
        (json_body(tensor([1, 2**70, "a"], [3], "INT64")), "must be numbers"),
        (json_body(tensor([1, 2**64 - 1, 0.5], [3], "UINT64")), "must be integers"),
        (json_body(tensor([1, 0], [2], "BOOL")), "true or false"),
        (json_body(tensor([1, 2], [2], "BYTES")), "must be strings"),
        (json_body(tensor(["a", ["b"]], [2], "BYTES")), "must be strings"),
        (json_body(tensor(["a"], [2], "BYTES")), "holds 2 elements but 'data' has 1"),
        (json_body(tensor([1], [1]), tensor([2], [1])), "more than once"),
        (json_body(tensor([1], [1]), id=5), "'id' must be a string"),
        (json_body(tensor([1], [1]), parameters=[1]), "'parameters'"),
        (json_body(tensor([1], [1]), parameters={"binary_data_output": "yes"}), "true or false"),
        (json_body(tensor([1], [1]), outputs={"name": "y"}), "'outputs' must be a list"),
        (json_body(tensor([1], [1]), outputs=[{"nom": "y"}]), "needs a 'name'"),
        (
            json_body(tensor([1], [1]), outputs=[{"name": "y", "parameters": {"binary_data": 1}}]),
            "true or false",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_malformed_json_requests_are_refused_with_a_reason(body: bytes, says: str) -> None:
    assert says in refused(body)


def test_nan_and_infinity_literals_parse_as_numbers() -> None:
    body = json.dumps({"inputs": [tensor([float("nan"), float("inf"), 1], [3])]}).encode()
    array = parse_infer_request(body, None, limits=LIMITS).inputs[0].array
    assert np.isnan(array[0])
    assert np.isinf(array[1])
    assert array[2] == 1


def test_integers_in_a_float_tensor_and_nested_data_are_accepted() -> None:
    body = json_body(tensor([[1, 2], [3, 4]], [2, 2]), tensor([[True]], [1, 1], "BOOL", "b"))
    request = parse_infer_request(body, None, limits=LIMITS)
    assert request.inputs[0].array.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert request.inputs[1].array.tolist() == [[True]]


def test_an_empty_tensor_is_accepted() -> None:
    request = parse_infer_request(json_body(tensor([], [0, 64])), None, limits=LIMITS)
    assert request.inputs[0].array.shape == (0, 64)


def test_unknown_top_level_fields_from_other_clients_are_ignored() -> None:
    body = json_body(tensor([1], [1]), model_name="m", parameters=None, outputs=None)
    assert parse_infer_request(body, None, limits=LIMITS).inputs[0].array.tolist() == [1.0]


FOUR_FLOATS = np.arange(4, dtype="<f4").tobytes()


@pytest.mark.parametrize(
    ("inputs", "tail", "header_delta", "says"),
    [
        ([binary_input(16, [4])], FOUR_FLOATS, 1, "not valid JSON"),
        ([binary_input(16, [4])], FOUR_FLOATS[:12], 0, "only 12 bytes of the body remain"),
        ([binary_input(12, [4])], FOUR_FLOATS[:12], 0, "4 FP32 elements take 16 bytes"),
        ([binary_input(16, [4])], FOUR_FLOATS + b"\0", 0, "1 bytes follow the JSON header"),
        ([binary_input(20, [4])], FOUR_FLOATS + b"\0" * 4, 0, "take 16 bytes"),
        ([binary_input(-1, [4])], FOUR_FLOATS, 0, "non-negative integer"),
        ([binary_input(16.0, [4])], FOUR_FLOATS, 0, "non-negative integer"),
        ([binary_input(True, [1], "BOOL")], b"\x01", 0, "non-negative integer"),
        ([binary_input(2, [2], "BOOL")], b"\x01\x02", 0, "0 or 1"),
        ([{**binary_input(16, [4]), "data": [1, 2, 3, 4]}], FOUR_FLOATS, 0, "both 'data'"),
        ([binary_input(3, [1], "BYTES")], b"\x01\x00\x00", 0, "ends inside element 0"),
        ([binary_input(5, [1], "BYTES")], struct.pack("<I", 9) + b"a", 0, "declares 9 bytes"),
        ([binary_input(6, [1], "BYTES")], struct.pack("<I", 1) + b"ab", 0, "1 bytes are left"),
        (
            [binary_input(5, [2], "BYTES")],
            struct.pack("<I", 1) + b"a",
            0,
            "ends inside element 1 of 2",
        ),
    ],
)
def test_binary_framing_that_does_not_add_up_is_refused(
    inputs: list[dict[str, Any]], tail: bytes, header_delta: int, says: str
) -> None:
    body, header_length = binary_body(inputs, tail)
    assert says in refused(body, header_length + header_delta)


@pytest.mark.parametrize("header_length", [-1, 10_000])
def test_a_header_length_outside_the_body_is_refused(header_length: int) -> None:
    body, _ = binary_body([binary_input(16, [4])], FOUR_FLOATS)
    assert "Inference-Header-Content-Length" in refused(body, header_length)


def test_a_json_request_with_a_header_length_and_trailing_bytes_is_refused() -> None:
    header = json_body(tensor([1], [1]))
    assert "follow the JSON header" in refused(header + b"junk", len(header))


def test_binary_inputs_after_json_inputs_are_found_in_order() -> None:
    inputs = [tensor([7], [1], "INT64", "a"), {**binary_input(16, [4]), "name": "b"}]
    body, header_length = binary_body(inputs, FOUR_FLOATS)
    request = parse_infer_request(body, header_length, limits=LIMITS)
    assert request.inputs[0].array.tolist() == [7]
    assert request.inputs[1].array.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_a_tensor_over_max_elements_is_413_before_any_data_is_read() -> None:
    body = json_body(tensor([], [1000, 1000, 1000]))
    with pytest.raises(PayloadTooLarge, match="max_elements"):
        parse_infer_request(body, None, limits=TensorLimits(max_elements=1_000_000))


def test_a_huge_dimension_beside_a_zero_is_413() -> None:
    body = json_body(tensor([], [0, 2**62]))
    with pytest.raises(PayloadTooLarge, match="max_elements"):
        parse_infer_request(body, None, limits=LIMITS)


def test_a_body_over_max_bytes_is_413() -> None:
    with pytest.raises(PayloadTooLarge, match="max_bytes"):
        parse_infer_request(
            json_body(tensor([1.0] * 100, [100])), None, limits=TensorLimits(max_bytes=200)
        )


def test_decoded_tensors_over_max_bytes_are_413() -> None:
    body = json_body(tensor([0] * 300, [300], "FP64"))  # ~900 bytes of JSON, 2,400 decoded
    assert len(body) < 1000
    with pytest.raises(PayloadTooLarge, match="tensors take 2400 bytes"):
        parse_infer_request(body, None, limits=TensorLimits(max_bytes=1000))


def test_more_inputs_than_max_inputs_is_413() -> None:
    body = json_body(*(tensor([1], [1], name=f"x{i}") for i in range(5)))
    with pytest.raises(PayloadTooLarge, match="max_inputs"):
        parse_infer_request(body, None, limits=TensorLimits(max_inputs=4))


def test_asking_for_an_output_the_model_lacks_names_its_outputs() -> None:
    body = json_body(tensor([1], [1]), outputs=[{"name": "nope"}])
    request = parse_infer_request(body, None, limits=LIMITS)
    with pytest.raises(InvalidInput, match="the model's outputs are logits"):
        select_outputs(request, {"logits": np.zeros(1)})


@settings(max_examples=100, deadline=None)
@given(
    body=st.binary(max_size=200),
    header_length=st.one_of(st.none(), st.integers(min_value=-5, max_value=250)),
)
def test_random_bytes_are_refused_as_invalid_input_and_nothing_else(
    body: bytes, header_length: int | None
) -> None:
    with contextlib.suppress(InvalidInput):
        parse_infer_request(body, header_length, limits=LIMITS)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=3),
)
_DATA = st.recursive(st.lists(_VALUES, max_size=4), lambda inner: st.lists(inner, max_size=3))


@settings(max_examples=60, deadline=None)
@given(
    datatype=st.sampled_from(
        ["BOOL", "UINT8", "INT32", "INT64", "UINT64", "FP16", "FP32", "BYTES"]
    ),
    shape=st.lists(st.one_of(st.integers(min_value=-1, max_value=4), st.just(2**62)), max_size=3),
    data=_DATA,
)
def test_any_json_data_either_parses_to_its_shape_or_is_invalid_input(
    datatype: str, shape: list[int], data: Any
) -> None:
    body = json.dumps({"inputs": [tensor(data, shape, datatype)]}).encode()
    try:
        request = parse_infer_request(body, None, limits=LIMITS)
    except InvalidInput:
        return
    assert request.inputs[0].array.shape == tuple(shape)


@pytest.mark.parametrize("value", ["", "-1", "12a", "\u00b2", "1.5"])
def test_a_header_length_that_is_not_a_number_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="non-negative integer"):
        header_length_of(value)


def test_header_length_reads_bytes_and_text() -> None:
    assert header_length_of(b"128") == 128
    assert header_length_of(" 7 ") == 7
    assert header_length_of(None) is None
