"""Memory sizes and durations as people type them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.compute.sansio.units import (
    format_bytes,
    format_duration,
    parse_duration,
    parse_memory,
)
from corridor.errors import InvalidInput

GIB = 2**30


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2G", 2 * GIB),
        ("2g", 2 * GIB),
        ("2GiB", 2 * GIB),
        ("2Gi", 2 * GIB),
        ("2GB", 2 * GIB),
        ("512M", 512 * 2**20),
        ("1.5GiB", 3 * GIB // 2),
        (" 64 K ", 64 * 1024),
        ("100", 100),
        ("100B", 100),
        ("1T", 2**40),
    ],
)
def test_parse_memory_reads_binary_suffixes(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


def test_parse_memory_takes_numbers_as_bytes() -> None:
    assert parse_memory(4096) == 4096


@pytest.mark.parametrize("bad", ["", "2X", "-1G", "G", "1e3", "nan", "inf", "2 GG", "1.2.3M"])
def test_parse_memory_refuses_text_that_is_not_a_size(bad: str) -> None:
    with pytest.raises(InvalidInput, match="is not a size"):
        parse_memory(bad)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), True])
def test_parse_memory_refuses_impossible_numbers(bad: float) -> None:
    with pytest.raises(InvalidInput, match="memory"):
        parse_memory(bad)


def test_parse_memory_refuses_more_than_any_machine_and_names_the_field() -> None:
    with pytest.raises(InvalidInput, match=r"--memory '9000P' is larger than any machine"):
        parse_memory("9000P", what="--memory")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", 600.0),
        ("90s", 90.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("2d", 172800.0),
        ("250ms", 0.25),
        ("1h 30m", 5400.0),
        ("12", 12.0),
        ("0.5", 0.5),
        ("0s", 0.0),
    ],
)
def test_parse_duration_reads_unit_parts(text: str, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("bad", ["", "10x", "h", "1h1", "m10", "-5s", "ten"])
def test_parse_duration_refuses_text_that_is_not_a_duration(bad: str) -> None:
    with pytest.raises(InvalidInput, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "inf", "-3"])
def test_parse_duration_refuses_negative_and_infinite(bad: str | float) -> None:
    with pytest.raises(InvalidInput, match="finite number of seconds"):
        parse_duration(bad)


def test_parse_duration_refuses_a_century_and_names_the_field() -> None:
    with pytest.raises(InvalidInput, match="--timeout '40000d' is longer than a hundred years"):
        parse_duration("40000d", what="--timeout")


@settings(deadline=None, derandomize=True, database=None, max_examples=200)
@given(st.integers(min_value=60, max_value=400 * 86400))
def test_format_duration_reads_back_as_the_same_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_bytes_uses_the_largest_binary_unit() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(2 * GIB) == "2.0 GiB"


def test_format_duration_keeps_fractions_below_a_minute() -> None:
    assert format_duration(2.5) == "2.5s"
    assert format_duration(30) == "30s"
    assert format_duration(5400) == "1h30m"
