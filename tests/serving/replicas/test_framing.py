"""Frames between a worker process and its parent: tensors round-trip, nothing else decodes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corridor.serving.replicas import framing
from corridor.serving.tensors import Batch


def _roundtrip(tensors: Batch) -> tuple[framing.Header, Batch]:
    frame = framing.encode({"op": "infer", "id": 7}, tensors)
    head_length, body_length = framing.lengths(frame[: framing.PREFIX.size])
    start = framing.PREFIX.size
    header = framing.parse_header(frame[start : start + head_length])
    body = bytearray(frame[start + head_length :])
    assert len(body) == body_length
    return header, framing.decode_tensors(header, body)


def test_numeric_and_bytes_tensors_round_trip_writable() -> None:
    tensors: Batch = {
        "x": np.arange(12, dtype=np.float32).reshape(3, 4),
        "ids": np.array([[1], [2], [3]], dtype=np.int64),
        "mask": np.array([True, False, True]),
        "text": np.array([b"a", "b\u00e9", b""], dtype=object),
        "scalar": np.array(2.5, dtype=np.float64),
    }
    header, out = _roundtrip(tensors)
    assert header["id"] == 7
    for name in ("x", "ids", "mask", "scalar"):
        np.testing.assert_array_equal(out[name], tensors[name])
        assert out[name].dtype == tensors[name].dtype
        assert out[name].flags.writeable
    assert out["text"].tolist() == [b"a", "b\u00e9".encode(), b""]


def test_a_non_contiguous_array_is_sent_in_c_order() -> None:
    array = np.arange(6, dtype=np.int32).reshape(2, 3).T
    _, out = _roundtrip({"t": array})
    np.testing.assert_array_equal(out["t"], array)


def test_decode_refuses_an_object_dtype_in_a_header() -> None:
    header = {"op": "result", "id": 1, "tensors": [["x", "|O", [1], 8]]}
    with pytest.raises(framing.FrameError, match="not a plain number"):
        framing.decode_tensors(header, bytearray(8))


def test_decode_refuses_lengths_that_disagree_with_the_shape() -> None:
    header = json.loads(json.dumps({"tensors": [["x", "<f4", [3], 8]]}))
    with pytest.raises(framing.FrameError, match="do not make shape"):
        framing.decode_tensors(header, bytearray(8))
    with pytest.raises(framing.FrameError, match="past the end"):
        framing.decode_tensors({"tensors": [["x", "<f4", [4], 16]]}, bytearray(8))
