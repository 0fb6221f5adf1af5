"""Profiles: every statistic checked against numbers worked out by hand."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, ClassVar

import polars as pl
import pytest

from corridor.data.sansio.profile import Histogram, Profile, TopValue, profile
from corridor.errors import InvalidInput


class CountingFrame(pl.LazyFrame):
    collects: ClassVar[int] = 0

    def collect(self, *args: Any, **kwargs: Any) -> Any:
        CountingFrame.collects += 1
        return super().collect(*args, **kwargs)


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 4.0, None],
            "up": [2, 4, 6, 8, 10],
            "down": [10, 8, 6, 4, 2],
            "s": ["b", "a", "b", None, "c"],
            "day": [dt.date(2024, 1, d) for d in (3, 1, 2, 5, 4)],
            "flag": [True, False, True, True, None],
        }
    )


def test_numeric_column_statistics(frame: pl.DataFrame) -> None:
    x = profile(frame, bins=3).column("x")
    assert (x.dtype, x.kind, x.count, x.missing, x.distinct) == ("float64", "numeric", 5, 1, 4)
    assert x.missing_fraction == pytest.approx(0.2)
    assert (x.min, x.max, x.mean) == (1.0, 4.0, 2.5)
    assert x.std == pytest.approx(math.sqrt(5 / 3))  # squared deviations 2.25+0.25+0.25+2.25 over 3
    # linear interpolation over 1, 2, 3, 4: position q*(n-1)
    assert x.quantiles["0.5"] == pytest.approx(2.5)
    assert x.quantiles["0.25"] == pytest.approx(1.75)
    assert x.quantiles["0.1"] == pytest.approx(1.3)
    assert x.quantiles["0.9"] == pytest.approx(3.7)
    assert x.histogram == Histogram(edges=[1.0, 2.0, 3.0, 4.0], counts=[2, 1, 1])
    assert x.top_values == []  # floating-point columns get no top values


def test_integer_column_gets_top_values_too(frame: pl.DataFrame) -> None:
    up = profile(frame, top=2).column("up")
    assert (up.min, up.max, up.mean) == (2, 10, 6.0)
    assert up.top_values == [TopValue(value=2, count=1), TopValue(value=4, count=1)]


def test_text_column_top_values_break_ties_by_value(frame: pl.DataFrame) -> None:
    s = profile(frame).column("s")
    assert (s.kind, s.missing, s.distinct, s.min, s.histogram) == ("text", 1, 3, None, None)
    assert s.top_values == [
        TopValue(value="b", count=2),
        TopValue(value="a", count=1),
        TopValue(value="c", count=1),
    ]


def test_temporal_and_boolean_columns(frame: pl.DataFrame) -> None:
    result = profile(frame)
    day = result.column("day")
    assert (day.kind, day.min, day.max, day.mean) == ("temporal", "2024-01-01", "2024-01-05", None)
    flag = result.column("flag")
    assert flag.kind == "boolean"
    assert flag.top_values == [TopValue(value=True, count=3), TopValue(value=False, count=1)]


def test_correlations_use_pairwise_complete_rows(frame: pl.DataFrame) -> None:
    correlations = profile(frame).correlations
    assert correlations["x"]["up"] == pytest.approx(1.0)
    assert correlations["up"]["x"] == pytest.approx(1.0)
    assert correlations["x"]["down"] == pytest.approx(-1.0)
    assert set(correlations) == {"x", "up", "down"}


def test_correlation_of_a_constant_column_is_none() -> None:
    result = profile(pl.DataFrame({"a": [1.0, 2.0, 3.0], "c": [5.0, 5.0, 5.0]}))
    assert result.correlations["a"]["c"] is None


def test_profile_reads_the_frame_once(frame: pl.DataFrame) -> None:
    CountingFrame.collects = 0
    profile(CountingFrame(frame))
    # One pass for every statistic, after a row count (which Parquet answers from metadata).
    assert CountingFrame.collects == 2


def test_profile_of_an_empty_frame(frame: pl.DataFrame) -> None:
    result = profile(frame.clear())
    assert result.row_count == 0
    x = result.column("x")
    assert (x.missing_fraction, x.mean, x.histogram, x.quantiles) == (0.0, None, None, {})


def test_profile_is_json_serialisable_and_round_trips(frame: pl.DataFrame) -> None:
    result = profile(frame)
    assert Profile.model_validate_json(result.model_dump_json()) == result


def test_bad_arguments_are_refused(frame: pl.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="bins must be at least 1"):
        profile(frame, bins=0)
    with pytest.raises(InvalidInput, match="column 'nope' is not in the profile"):
        profile(frame).column("nope")
