"""Expectation suites read from YAML, JSON and Python, and refused with a useful message."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from corridor.data.sansio import expectations as ex
from corridor.errors import InvalidInput

YAML_SUITE = """
name: orders
expectations:
  - {kind: not_null, column: id}
  - {kind: unique, columns: [customer_id, order_no]}
  - {kind: unique, column: id}
  - {kind: between, column: amount, min: 0, max: 10000, mostly: 0.99, max_inclusive: false}
  - {kind: between, column: ordered_on, min: 2024-01-01}
  - {kind: in_set, column: status, values: [open, paid]}
  - {kind: regex, column: email, pattern: '^[^@]+@[^@]+$'}
  - {kind: dtype, column: amount, dtype: numeric}
  - {kind: row_count, min: 1, max: 1000000}
  - {kind: freshness, column: ordered_at, max_age: 24h}
  - {kind: foreign_key, column: customer_id, reference: customers, reference_columns: [id]}
  - {kind: custom, name: shipped_after_order, expr: "shipped_at >= ordered_at"}
"""


def test_suite_loads_from_yaml_with_every_kind() -> None:
    suite = ex.load_suite(YAML_SUITE)
    assert suite.name == "orders"
    kinds = [e.kind for e in suite.expectations]
    assert kinds == [
        "not_null",
        "unique",
        "unique",
        "between",
        "between",
        "in_set",
        "regex",
        "dtype",
        "row_count",
        "freshness",
        "foreign_key",
        "custom",
    ]
    unique_one = suite.expectations[2]
    assert isinstance(unique_one, ex.Unique)
    assert unique_one.columns == ["id"]
    amount = suite.expectations[3]
    assert isinstance(amount, ex.Between)
    assert (amount.min, amount.max, amount.mostly, amount.max_inclusive) == (0, 10000, 0.99, False)
    ordered = suite.expectations[4]
    assert isinstance(ordered, ex.Between)
    assert ordered.min == dt.date(2024, 1, 1)
    fresh = suite.expectations[9]
    assert isinstance(fresh, ex.Freshness)
    assert fresh.max_age == dt.timedelta(hours=24)


def test_suite_round_trips_through_json() -> None:
    suite = ex.load_suite(YAML_SUITE)
    again = ex.load_suite(suite.model_dump_json())
    assert again == suite
    assert ex.load_suite(json.loads(suite.model_dump_json())) == suite


def test_suite_loads_from_a_bare_list_and_from_python() -> None:
    from_list = ex.load_suite([{"kind": "not_null", "column": "a"}])
    from_python = ex.ExpectationSuite(expectations=[ex.NotNull(column="a")])
    assert from_list == from_python


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("[{kind: nope, column: a}]", ["item 1", "column 'a'", "unknown kind 'nope'"]),
        (
            "[{kind: not_null, column: a}, {kind: between, name: rng, column: b}]",
            ["item 2 'rng'", "column 'b'", "give min, max or both"],
        ),
        ("[{kind: not_null, column: a, colour: red}]", ["field 'colour'", "not a known field"]),
        ("[{kind: row_count, mostly: 0.5}]", ["field 'mostly'", "not a known field"]),
        ("[{kind: not_null, column: a, mostly: 1.5}]", ["field 'mostly'", "less than or equal"]),
        ("[{kind: unique}]", ["field 'columns'", "Field required"]),
        ("[{kind: between, column: a, min: 7x}]", ["field 'min'", "not a number, an ISO date"]),
        ("[{kind: freshness, column: t, max_age: soon}]", ["field 'max_age'"]),
        (
            "[{kind: foreign_key, columns: [a, b], reference: r, reference_columns: [x]}]",
            ["as many columns"],
        ),
        ("- just text", ["item 1", "valid dictionary"]),
        (": :", ["neither valid JSON nor valid YAML"]),
        ("42", ["must be a mapping or a list"]),
    ],
)
def test_bad_suite_is_refused_naming_the_item(text: str, fragments: list[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        ex.load_suite(text)
    for fragment in fragments:
        assert fragment in caught.value.message


def test_yaml_tags_that_run_code_are_refused() -> None:
    with pytest.raises(InvalidInput, match="neither valid JSON nor valid YAML"):
        ex.load_suite("!!python/object/apply:os.system ['true']")


def test_python_only_expression_is_accepted_but_never_stored() -> None:
    suite = ex.ExpectationSuite(expectations=[ex.Custom(name="pos", expr=pl.col("a") > 0)])
    with pytest.raises(ValueError, match="serialize"):
        suite.model_dump_json()
    schema = ex.ExpectationSuite.model_json_schema()
    assert "expectations" in schema["properties"]
