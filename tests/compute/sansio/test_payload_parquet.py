"""The payload codec's Parquet leaf: tables kept as Parquet, byte for byte the same every time,
read back as the kind they were, and hostile Parquet refused with InvalidInput only."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import subprocess
import sys

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.compute.sansio import parquet_parts, payload
from corridor.compute.sansio.payload import decode, encode
from corridor.errors import InvalidInput


def _table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(1000), pa.int64()),
            "name": [f"row {i}" for i in range(1000)],
            "score": np.linspace(0.0, 1.0, 1000),
            "day": [dt.date(2026, 1, 1) + dt.timedelta(days=i % 30) for i in range(1000)],
            "flag": [i % 3 == 0 for i in range(1000)],
        }
    )


def _tags(data: bytes) -> list[str]:
    """The table tags in a payload's header (where parts are named)."""
    start, _ = _parquet_part(data)
    header = data[len(payload.MAGIC) + 5 : start]
    tags = ("$pq", "$pqpolars", "$arrow", "$polars")
    return [tag for tag in tags if f'"{tag}"'.encode() in header]


def test_tables_default_to_arrow_ipc_and_parquet_is_asked_for() -> None:
    assert _tags(encode(_table())) == ["$arrow"]
    assert _tags(encode(_table(), tables="parquet")) == ["$pq"]
    assert _tags(encode(pl.DataFrame({"a": [1, 2]}), tables="parquet")) == ["$pqpolars"]


def test_parquet_tables_and_polars_frames_come_back_as_the_same_kind() -> None:
    table = _table()
    frame = pl.DataFrame({"a": [1, 2, None], "b": ["x", "y", "z"]})
    value = decode(
        encode({"t": table, "f": frame, "batch": table.to_batches()[0]}, tables="parquet")
    )
    assert isinstance(value, dict)
    assert isinstance(value["t"], pa.Table)
    assert value["t"].equals(table)
    assert isinstance(value["f"], pl.DataFrame)
    assert value["f"].equals(frame)
    assert isinstance(value["batch"], pa.Table)
    assert value["batch"].num_rows == table.num_rows


def test_parquet_encoding_is_deterministic_across_calls_chunkings_and_processes() -> None:
    table = _table()
    first = encode(table, tables="parquet")
    assert encode(table, tables="parquet") == first
    rechunked = pa.concat_tables([table.slice(0, 123), table.slice(123, 500), table.slice(623)])
    assert rechunked.column(0).num_chunks == 3
    assert encode(rechunked, tables="parquet") == first
    code = (
        "import hashlib, sys\n"
        "sys.path.insert(0, 'tests/compute/sansio')\n"
        "from test_payload_parquet import _table\n"
        "from corridor.compute.sansio.payload import encode\n"
        "print(hashlib.sha256(encode(_table(), tables='parquet')).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == hashlib.sha256(first).hexdigest()


def test_other_leaves_are_unchanged_by_the_parquet_option() -> None:
    value = {"n": np.arange(5), "b": b"raw", "x": [1, 2.5, "s", None]}
    assert encode(value, tables="parquet") == encode(value)


def test_an_unknown_tables_setting_is_refused() -> None:
    with pytest.raises(InvalidInput, match="tables must be"):
        encode(_table(), tables="csv")  # type: ignore[arg-type]


def test_convert_is_asked_about_unknown_leaves_only_and_its_answer_is_encoded() -> None:
    asked: list[str] = []

    def convert(value: object, path: str) -> object:
        asked.append(path)
        return {"as_text": str(value)}

    data = encode({"ok": 1, "odd": complex(1, 2)}, convert=convert)
    assert asked == ["value['odd']"]
    assert decode(data) == {"ok": 1, "odd": {"as_text": "(1+2j)"}}


def test_convert_returning_another_unknown_leaf_is_refused_not_looped() -> None:
    with pytest.raises(InvalidInput, match="cannot be sent safely"):
        encode(complex(1, 2), convert=lambda value, path: object())


def _parquet_part(data: bytes) -> tuple[int, int]:
    """Where the single part of a one-table payload starts, and its length."""
    header_len = int.from_bytes(data[len(payload.MAGIC) + 1 : len(payload.MAGIC) + 5], "big")
    start = len(payload.MAGIC) + 5 + header_len
    return start, len(data) - start


def test_a_part_that_is_not_parquet_is_refused() -> None:
    data = encode(_table(), tables="parquet")
    start, length = _parquet_part(data)
    bad = data[:start] + b"\x00" * length
    with pytest.raises(InvalidInput, match="Parquet part is malformed"):
        decode(bad)


def test_a_parquet_part_declaring_a_huge_table_is_refused_before_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A column of one repeated value encodes to almost nothing: a bomb in a small part.
    bomb = pa.table({"zeros": pa.array(np.zeros(2_000_000, dtype=np.int64))})
    data = encode(bomb, tables="parquet")
    _, length = _parquet_part(data)
    assert length * 100 < bomb.nbytes
    back = decode(data)
    assert isinstance(back, pa.Table)
    assert back.equals(bomb)
    # Shrink the floor below the table so that the part's ratio alone decides.
    monkeypatch.setattr(parquet_parts, "MIN_PARQUET_LIMIT", 1024)
    monkeypatch.setattr(parquet_parts, "MAX_PARQUET_EXPANSION", 100)
    with pytest.raises(InvalidInput, match="declares a table of"):
        decode(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fuzzed_parquet_decodes_or_raises_invalid_input_only(data: st.DataObject) -> None:
    sample = encode({"t": pa.table({"c": [1, 2, 3], "s": ["a", "b", "c"]})}, tables="parquet")
    start, length = _parquet_part(sample)
    flips = data.draw(
        st.lists(st.tuples(st.integers(start, len(sample) - 1), st.integers(0, 255)), max_size=8)
    )
    mutated = bytearray(sample)
    for index, byte in flips:
        mutated[index] = byte
    with contextlib.suppress(InvalidInput):
        decode(bytes(mutated))
    assert length > 0
