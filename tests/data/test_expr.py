"""The safe expression language: what it translates, and what it refuses."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from corridor.data.sansio.expr import as_expression, compile_expression, expression_columns
from corridor.errors import InvalidInput

FRAME = pl.DataFrame(
    {
        "a": [1, 2, 3, None],
        "s": [" X ", "y", "z", None],
        "unit price": [1.0, 2.0, 3.0, 4.0],
        "d": [dt.date(2024, 1, i) for i in (1, 2, 3, 4)],
    }
)


def evaluate(text: str) -> list[object]:
    return FRAME.select(compile_expression(text, FRAME.schema).alias("r"))["r"].to_list()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a > 1 and s is not None", [False, True, True, False]),
        ("a >= 2 or a is None", [False, True, True, True]),
        ("not a > 1", [True, False, False, None]),
        ("~(a > 1) | (a == 3)", [True, False, True, None]),
        ("1 < a <= 2", [False, True, False, None]),
        ("a in (1, 3)", [True, False, True, None]),
        ("a not in [1]", [False, True, True, None]),
        ("a * 2 + 1 - a // 2 % 3", [3, 4, 6, None]),
        ("-a ** 2", [-1, -4, -9, None]),
        ("col('unit price') / 2", [0.5, 1.0, 1.5, 2.0]),
        ("lower(strip(s)) if s is not None else 'unknown'", ["x", "y", "z", "unknown"]),
        ("upper(s)", [" X ", "Y", "Z", None]),
        ("len(strip(s))", [1, 1, 1, None]),
        ("substr(strip(s), 0, 1)", ["X", "y", "z", None]),
        ("contains(s, '^[xy]$')", [False, True, False, None]),
        ("starts_with(s, ' ')", [True, False, False, None]),
        ("ends_with(s, 'z')", [False, False, True, None]),
        ("replace(s, '[xyz]', '_')", [" X ", "_", "_", None]),
        ("concat(s, '!')", [" X !", "y!", "z!", None]),
        ("coalesce(a, 0)", [1, 2, 3, 0]),
        ("is_null(a)", [False, False, False, True]),
        ("is_not_null(a)", [True, True, True, False]),
        ("if_else(a > 1, 'big', 'small')", ["small", "big", "big", "small"]),
        ("between(a, 2, 3)", [False, True, True, None]),
        ("abs(-a)", [1, 2, 3, None]),
        ("round(col('unit price') / 3, 2)", [0.33, 0.67, 1.0, 1.33]),
        ("floor(col('unit price') / 3)", [0.0, 0.0, 1.0, 1.0]),
        ("ceil(col('unit price') / 3)", [1.0, 1.0, 1.0, 2.0]),
        ("least(a, 2)", [1, 2, 2, 2]),
        ("greatest(a, 2)", [2, 2, 3, 2]),
        ("cast(a, 'float64') / 2", [0.5, 1.0, 1.5, None]),
        ("d >= date('2024-01-03')", [False, False, True, True]),
        ("day(d)", [1, 2, 3, 4]),
        ("a > mean(a)", [False, False, True, None]),
        ("a == max(a)", [False, False, True, None]),
    ],
)
def test_expression_translates_to_the_polars_equivalent(text: str, expected: list[object]) -> None:
    assert evaluate(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a.__class__", "attribute access is not allowed"),
        ("__import__('os').system('true')", "attribute access"),
        ("__import__('os')", "unknown function '__import__'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("(lambda: 1)()", "cannot be called"),
        ("a[0]", "subscripting is not allowed"),
        ("[x for x in a]", "ListComp"),
        ("(y := 1)", "assignment is not allowed"),
        ("b > 1", "unknown column 'b'"),
        ("col('nope')", "unknown column 'nope'"),
        ("a >", "syntax error"),
        ("a = 1", "syntax error"),
        ("contains(s, '(')", "bad regular expression"),
        ("a is 1", "may only compare with None"),
        ("a in b", "must be a literal list"),
        ("round(a, 'x')", "must be a literal int"),
        ("round(a, 1, 2)", "takes 1 to 2 arguments"),
        ("lower(s, case='x')", "positional arguments only"),
        ("cast(a, 'nonsense')", "unknown type 'nonsense'"),
        ("date('yesterday')", "not an ISO 8601 date"),
        ("b'bytes'", "not allowed"),
        ("x" * 5000, "at most"),
        ("(" * 300 + "1" + ")" * 300, "nested"),
    ],
)
def test_expression_outside_the_language_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        compile_expression(text, FRAME.schema)
    assert fragment in caught.value.message


def test_expression_without_schema_accepts_any_column() -> None:
    expr = compile_expression("x + y > 2")
    assert expression_columns(expr) == ["x", "y"]


def test_polars_expression_is_checked_against_the_schema() -> None:
    assert expression_columns(as_expression(pl.col("a") > 1, FRAME.schema)) == ["a"]
    with pytest.raises(InvalidInput, match="unknown column 'zz'"):
        as_expression(pl.col("zz") > 1, FRAME.schema)
