"""Type names as users write them."""

from __future__ import annotations

import polars as pl
import pytest

from corridor.data.sansio.dtypes import check_dtype_name, dtype_matches, dtype_name, parse_dtype
from corridor.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "dtype"),
    [
        ("int64", pl.Int64()),
        ("INT", pl.Int64()),
        ("str", pl.String()),
        ("utf8", pl.String()),
        ("boolean", pl.Boolean()),
        ("datetime", pl.Datetime("us")),
        ("datetime[ms, Europe/London]", pl.Datetime("ms", "Europe/London")),
        ("duration[ns]", pl.Duration("ns")),
        ("decimal(10, 2)", pl.Decimal(10, 2)),
    ],
)
def test_type_names_parse(text: str, dtype: pl.DataType) -> None:
    assert parse_dtype(text) == dtype


@pytest.mark.parametrize(
    "dtype",
    [pl.Int8(), pl.Float32(), pl.String(), pl.Date(), pl.Datetime("ms", "UTC"), pl.Decimal(5, 1)],
)
def test_names_read_back_as_the_same_type(dtype: pl.DataType) -> None:
    assert parse_dtype(dtype_name(dtype)) == dtype


def test_families_match_any_width() -> None:
    assert dtype_matches(pl.Int8(), "integer")
    assert dtype_matches(pl.Float32(), "numeric")
    assert dtype_matches(pl.Date(), "temporal")
    assert dtype_matches(pl.Categorical(), "text")
    assert not dtype_matches(pl.Float64(), "integer")
    assert dtype_matches(pl.Datetime("ns", "UTC"), "datetime")
    assert not dtype_matches(pl.Datetime("ns"), "datetime[us]")


@pytest.mark.parametrize("text", ["whole", "datetime[xs]", "duration[ms, UTC]", "decimal(a,b)"])
def test_unknown_type_names_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        check_dtype_name(text)
