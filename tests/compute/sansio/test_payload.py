"""The payload codec: round trips of every leaf kind, refusals that name the path, hostile bytes."""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
from decimal import Decimal

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.compute.sansio import payload, payload_datasets
from corridor.compute.sansio.payload import (
    Call,
    DatasetInput,
    ItemError,
    MapChunk,
    decode,
    decode_input,
    decode_map_results,
    encode,
    encode_call,
    encode_map_chunk,
    encode_map_results,
)
from corridor.errors import InvalidInput

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(max_size=64),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
        | st.tuples(children, children)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_plain_values_round_trip_exactly(value: object) -> None:
    assert decode(encode(value)) == value


def test_special_floats_tuples_and_dollar_keys_come_back_as_sent() -> None:
    value = {
        "nan": math.nan,
        "inf": [math.inf, -math.inf, -0.0],
        "pair": (1, "a"),
        "user": {"$t": [1]},
        "nested": {"$d": {"$f": "nan"}},
        "big": 2**200,
    }
    back = decode(encode(value))
    assert isinstance(back, dict)
    assert math.isnan(back["nan"])
    assert back["inf"] == [math.inf, -math.inf, -0.0]
    assert math.copysign(1.0, back["inf"][2]) == -1.0
    assert back["pair"] == (1, "a")
    assert isinstance(back["pair"], tuple)
    assert back["user"] == {"$t": [1]}
    assert back["nested"] == {"$d": {"$f": "nan"}}
    assert back["big"] == 2**200


def test_numpy_arrays_round_trip_with_dtype_and_shape() -> None:
    arrays = [
        np.arange(12, dtype=np.int16).reshape(3, 4),
        np.array([1.5, np.nan], dtype=np.float32),
        np.array(["a", "bé"]),
        np.zeros((0, 3)),
        np.array(3.0),
    ]
    back = decode(encode({"xs": arrays}))
    assert isinstance(back, dict)
    for sent, got in zip(arrays, back["xs"], strict=True):
        assert got.dtype == sent.dtype
        assert got.shape == sent.shape
        np.testing.assert_array_equal(got, sent)


def test_numpy_scalars_travel_as_plain_numbers() -> None:
    assert decode(encode([np.int64(3), np.float32(0.5), np.bool_(True)])) == [3, 0.5, True]


def test_arrow_and_polars_tables_come_back_as_the_same_kind() -> None:
    table = pa.table({"a": [1, 2, None], "b": ["x", "y", "z"]})
    frame = pl.DataFrame({"k": [1, 2], "v": [0.5, None]})
    back = decode(encode({"t": table, "f": frame, "batch": table.to_batches()[0]}))
    assert isinstance(back, dict)
    assert isinstance(back["t"], pa.Table)
    assert back["t"].equals(table)
    assert isinstance(back["f"], pl.DataFrame)
    assert back["f"].equals(frame)
    assert back["batch"].equals(table)


def test_bytes_and_dataset_markers_round_trip() -> None:
    value = [b"\x00\xff", bytearray(b"ab"), DatasetInput("crm/customers@latest")]
    assert decode(encode(value)) == [b"\x00\xff", b"ab", DatasetInput("crm/customers@latest")]


def test_dataset_input_needs_a_reference() -> None:
    with pytest.raises(InvalidInput, match="dataset reference"):
        DatasetInput(" ")


class LinearRegression:
    """Stands in for an estimator: an object with no safe wire form."""


def test_an_unsendable_argument_is_refused_naming_its_path_and_type() -> None:
    from sklearn.linear_model import LinearRegression as Estimator

    with pytest.raises(InvalidInput) as caught:
        encode_call((1, {"model": Estimator()}), {})
    message = caught.value.message
    assert message.startswith(
        "args[1]['model']: a value of type sklearn.LinearRegression cannot be sent safely"
    )
    assert "send JSON values, Arrow tables, numpy arrays or tensors" in message


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ({1, 2}, "value[0]: a value of type set cannot be sent"),
        (Decimal("1.5"), "value[0]: a value of type decimal.Decimal cannot be sent"),
        (np.array([object()], dtype=object), "value[0]: a numpy array of Python objects"),
        ({1: "a"}, "value[0]: dictionary keys must be strings; 1 is a int"),
    ],
)
def test_unsafe_leaves_are_refused(value: object, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle.replace("[", r"\[").replace("]", r"\]")):
        encode([value])


def test_a_huge_integer_is_refused() -> None:
    with pytest.raises(InvalidInput, match="bits cannot be sent"):
        encode(10**5000)


def test_a_cycle_is_refused_not_recursed_forever() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(InvalidInput, match="nested deeper than 100 levels"):
        encode(loop)


def test_keyword_arguments_name_their_path() -> None:
    with pytest.raises(InvalidInput, match=r"kwargs\['x'\]\[2\]: a value of type complex"):
        encode_call((), {"x": [1, 2, 1j]})


def test_call_and_map_chunk_inputs_decode_to_their_kinds() -> None:
    call = decode_input(encode_call((1, np.arange(3)), {"k": (2,)}))
    assert isinstance(call, Call)
    assert call.args[0] == 1
    np.testing.assert_array_equal(call.args[1], np.arange(3))
    assert call.kwargs == {"k": (2,)}
    chunk = decode_input(encode_map_chunk(["a", {"b": 1}], 40))
    assert chunk == MapChunk(["a", {"b": 1}], 40)
    with pytest.raises(InvalidInput, match="not a function job's input"):
        decode_input(encode([1, 2]))


def test_map_results_carry_values_and_errors_and_demote_an_unsendable_result() -> None:
    error = ItemError("ValueError", "bad item", "Traceback ...")
    data = encode_map_results([(True, 1), (False, error), (True, object())], first_index=10)
    outcomes = decode_map_results(data)
    assert outcomes[:2] == [(True, 1), (False, error)]
    ok, demoted = outcomes[2]
    assert not ok
    assert isinstance(demoted, ItemError)
    assert "result of items[12]: a value of type object cannot be sent safely" in demoted.message


def test_dataset_refs_are_found_and_replaced() -> None:
    value = Call((DatasetInput("a@1"), [DatasetInput("b@2")]), {"x": DatasetInput("a@1")})
    assert payload_datasets.dataset_refs(value) == ["a@1", "b@2"]
    loaded = payload_datasets.replace_datasets(value, lambda ref: f"table {ref}")
    assert loaded == Call(("table a@1", ["table b@2"]), {"x": "table a@1"})


def _frame(header: object, parts: bytes = b"", version: int = payload.VERSION) -> bytes:
    body = json.dumps(header).encode()
    return payload.MAGIC + bytes([version]) + len(body).to_bytes(4, "big") + body + parts


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "not a Corridor payload"),
        (b"PK\x03\x04" + b"\x00" * 20, "not a Corridor payload"),
        (payload.MAGIC + b"\x01\x00\x00", "not a Corridor payload"),
        (_frame({"value": 1, "parts": []}, version=9), "version 9 is not readable"),
        (payload.MAGIC + b"\x01\xff\xff\xff\xff{}", "header claims"),
        (_frame({"value": 1, "parts": []})[:-3], "header claims"),
        (_frame({"value": 1}), "lacks its value and parts"),
        (_frame({"value": 1, "parts": [-1]}), "not a count"),
        (_frame({"value": 1, "parts": [True]}), "not a count"),
        (_frame({"value": {"$b": 0}, "parts": [10]}, b"abc"), "truncated"),
        (_frame({"value": 1, "parts": []}, b"x"), "1 bytes after its last part"),
        (_frame({"value": {"$b": 1}, "parts": [1]}, b"x"), "names a part it does not have"),
        (_frame({"value": {"$pickle": 0}, "parts": [1]}, b"x"), "unknown tag '\\$pickle'"),
        (_frame({"value": {"$np": 0}, "parts": [5]}, b"hello"), "npy part is malformed"),
        (_frame({"value": {"$arrow": 0}, "parts": [5]}, b"hello"), "arrow part is malformed"),
        (_frame({"value": {"$f": "zero"}, "parts": []}), "unknown tag"),
        (payload.MAGIC + b"\x01\x00\x00\x00\x03NaN", "not valid JSON"),
        (payload.MAGIC + b"\x01\x00\x00\x00\x02\xff\xfe", "not valid JSON"),
    ],
)
def test_hostile_bytes_are_refused_with_invalid_input(data: bytes, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        decode(data)


def _npy_frame(array: np.ndarray, *, pickle: bool = False, cut: int = 0) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=pickle)
    part = buffer.getvalue()[: len(buffer.getvalue()) - cut]
    return _frame({"value": {"$np": 0}, "parts": [len(part)]}, part)


def test_a_pickled_npy_is_refused_not_unpickled() -> None:
    data = _npy_frame(np.array([LinearRegression()], dtype=object), pickle=True)
    with pytest.raises(InvalidInput, match="holds Python objects, which are never loaded"):
        decode(data)


def test_an_npy_header_claiming_more_than_its_bytes_is_refused_before_allocating() -> None:
    import io

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    part = header.getvalue() + b"\x00" * 8
    data = _frame({"value": {"$np": 0}, "parts": [len(part)]}, part)
    with pytest.raises(InvalidInput, match="fewer or more bytes than its header says"):
        decode(data)
    with pytest.raises(InvalidInput, match="fewer or more bytes"):
        decode(_npy_frame(np.arange(10), cut=3))


@pytest.mark.parametrize("offsets", [[0, 100_000], [5, 2]])
def test_arrow_offsets_past_their_buffers_are_refused(offsets: list[int]) -> None:
    data = encode(pa.table({"s": ["abcdefgh"]}))
    good = np.array([0, 8], dtype=np.int32).tobytes()
    at = data.rindex(good, 0, data.index(b"abcdefgh"))
    bad = data[:at] + np.array(offsets, dtype=np.int32).tobytes() + data[at + len(good) :]
    with pytest.raises(InvalidInput, match="arrow part is malformed"):
        decode(bad)


def test_deep_nesting_is_refused() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    body = ('{"value":' + deep + ',"parts":[]}').encode()
    data = payload.MAGIC + b"\x01" + len(body).to_bytes(4, "big") + body
    with pytest.raises(InvalidInput, match="nested too deeply"):
        decode(data)
    moderate = "[" * 300 + "]" * 300
    body = ('{"value":' + moderate + ',"parts":[]}').encode()
    with pytest.raises(InvalidInput, match="nested too deeply"):
        decode(payload.MAGIC + b"\x01" + len(body).to_bytes(4, "big") + body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.data())
def test_fuzzed_bytes_decode_or_raise_invalid_input_only(noise: bytes, data: st.DataObject) -> None:
    sample = encode({"a": [1, 2.5, "x", b"yz"], "n": np.arange(4), "t": pa.table({"c": [1]})})
    cut = data.draw(st.integers(0, len(sample)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(sample) - 1), st.integers(0, 255))))
    mutated = bytearray(sample[:cut] + noise + sample[cut:])
    for index, byte in flips:
        if index < len(mutated):
            mutated[index] = byte
    for candidate in (bytes(mutated), sample[:cut], payload.MAGIC + noise):
        with contextlib.suppress(InvalidInput):
            decode(candidate)


def test_json_only_payloads_import_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from corridor.compute.sansio.payload import decode, encode, encode_call\n"
        "assert decode(encode({'a': [1, (2, 3)], 'b': b'x'})) == {'a': [1, (2, 3)], 'b': b'x'}\n"
        "encode_call((1,), {'k': 'v'})\n"
        "heavy = {'numpy', 'pyarrow', 'polars', 'torch'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_torch_tensors_round_trip_through_safetensors() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    tensor = torch.arange(6, dtype=torch.bfloat16).reshape(2, 3)
    back = decode(encode({"w": tensor}))
    assert isinstance(back, dict)
    assert back["w"].dtype == torch.bfloat16
    assert torch.equal(back["w"], tensor)
