"""Requests are checked against the model's signature: names, datatypes, shapes, one batch
size, and no NaN unless the signature allows it. Every refusal names the expected signature."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from corridor.errors import InvalidInput
from corridor.serving.sansio.signature_check import check_inputs
from corridor.serving.tensors import ModelSignature, TensorSpec

SIGNATURE = ModelSignature(
    inputs=(TensorSpec("input", "FP32", (-1, 4)), TensorSpec("ids", "INT64", (-1,))),
    outputs=(TensorSpec("logits", "FP32", (-1, 10)),),
)
DESCRIBED = SIGNATURE.describe()


def good(rows: int = 2) -> dict[str, npt.NDArray[Any]]:
    return {"ids": np.arange(rows), "input": np.zeros((rows, 4), dtype=np.float32)}


def refusal(inputs: dict[str, npt.NDArray[Any]], signature: ModelSignature = SIGNATURE) -> str:
    with pytest.raises(InvalidInput) as caught:
        check_inputs(signature, inputs)
    return caught.value.message


def test_matching_inputs_pass_in_the_signatures_order_without_copies() -> None:
    inputs = good()
    batch = check_inputs(SIGNATURE, inputs)
    assert list(batch) == ["input", "ids"]
    assert batch["input"] is inputs["input"]


def test_any_batch_size_fits_a_minus_one_dimension() -> None:
    assert check_inputs(SIGNATURE, good(rows=0))["ids"].shape == (0,)
    assert check_inputs(SIGNATURE, good(rows=128))["ids"].shape == (128,)


def test_a_missing_input_is_named_with_the_signature() -> None:
    message = refusal({"input": np.zeros((1, 4), dtype=np.float32)})
    assert "missing 'ids'" in message
    assert DESCRIBED in message


def test_an_unknown_input_is_named_with_the_signature() -> None:
    message = refusal({**good(), "extra": np.zeros(2)})
    assert "unknown 'extra'" in message
    assert DESCRIBED in message


def test_a_wrong_datatype_is_refused_not_widened() -> None:
    message = refusal({**good(), "input": np.zeros((2, 4), dtype=np.float64)})
    assert "'input' is FP64 but the model takes FP32" in message
    assert DESCRIBED in message


@pytest.mark.parametrize("shape", [(2, 5), (2,), (2, 4, 1)])
def test_a_wrong_shape_is_refused(shape: tuple[int, ...]) -> None:
    message = refusal({**good(), "input": np.zeros(shape, dtype=np.float32)})
    assert "input FP32 [-1, 4]" in message
    assert DESCRIBED in message


def test_inputs_with_different_batch_sizes_are_refused() -> None:
    message = refusal({"input": np.zeros((2, 4), dtype=np.float32), "ids": np.arange(3)})
    assert "different batch sizes (2 and 3)" in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinity_are_refused_when_the_signature_forbids_them(bad: float) -> None:
    inputs = good()
    inputs["input"][1, 2] = bad
    message = refusal(inputs)
    assert "'input'" in message
    assert "signature forbids" in message


def test_nan_passes_when_the_signature_allows_it() -> None:
    allowing = ModelSignature(SIGNATURE.inputs, SIGNATURE.outputs, allow_nan=True)
    inputs = good()
    inputs["input"][0, 0] = np.nan
    assert np.isnan(check_inputs(allowing, inputs)["input"][0, 0])


def test_bytes_inputs_match_a_bytes_signature() -> None:
    texts = ModelSignature(
        inputs=(TensorSpec("text", "BYTES", (-1,)),),
        outputs=(TensorSpec("embedding", "FP32", (-1, 384)),),
    )
    array = np.empty(2, dtype=object)
    array[:] = [b"a", b"b"]
    assert check_inputs(texts, {"text": array})["text"] is array
    assert "'text' is FP32 but the model takes BYTES" in refusal(
        {"text": np.zeros(2, dtype=np.float32)}, texts
    )


def test_an_array_without_a_protocol_datatype_is_refused() -> None:
    message = refusal({**good(), "input": np.zeros((2, 4), dtype=np.complex64)})
    assert "'input' is complex64" in message
