"""Validation: every expectation kind, the one-pass design, samples, and refused specs."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import polars as pl
import pytest

from corridor.data.sansio import expectations as ex
from corridor.data.sansio.validate import ValidationReport, plan, validate
from corridor.errors import InvalidInput

NOW = dt.datetime(2024, 6, 1, 12, 0)


class CountingFrame(pl.LazyFrame):
    """A LazyFrame whose derived frames keep the class, so every collect on them is counted."""

    collects: ClassVar[int] = 0

    def collect(self, *args: Any, **kwargs: Any) -> Any:
        CountingFrame.collects += 1
        return super().collect(*args, **kwargs)


@pytest.fixture
def orders() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            "customer_id": [1, 1, 2, 2, 3, 3, 4, None, 1, 2],
            "order_no": [1, 2, 1, 2, 1, 1, 1, 1, 3, 3],
            "amount": [10.0, 20.0, -5.0, 30.0, None, 50.0, 60.0, 70.0, 80.0, 1000.0],
            "status": ["open", "paid", "paid", "open", "void", None, "open", "paid", "open", "x"],
            "email": [
                "a@x.io",
                "b@x.io",
                "bad",
                "c@x.io",
                None,
                "d@x.io",
                "e@",
                "f@x.io",
                "g@x.io",
                "h@x.io",
            ],
            "ordered_at": [dt.datetime(2024, 6, 1, h) for h in range(10)],
        }
    )


@pytest.fixture
def customers() -> pl.DataFrame:
    return pl.DataFrame({"cid": [1, 2, 3], "region": ["eu", "us", "eu"]})


def run(frame: pl.DataFrame, *specs: ex.Expectation, **kwargs: Any) -> ValidationReport:
    return validate(ex.ExpectationSuite(expectations=list(specs)), frame, now=NOW, **kwargs)


def only(report: ValidationReport) -> Any:
    assert len(report.results) == 1
    return report.results[0]


def test_not_null_counts_nulls_over_every_row(orders: pl.DataFrame) -> None:
    result = only(run(orders, ex.NotNull(column="amount")))
    assert (result.passed, result.failing, result.evaluated) == (False, 1, 10)
    assert result.failing_fraction == pytest.approx(0.1)
    assert result.samples[0]["id"] == 5


def test_mostly_is_the_fraction_that_must_pass(orders: pl.DataFrame) -> None:
    assert only(run(orders, ex.NotNull(column="amount", mostly=0.9))).passed
    assert not only(run(orders, ex.NotNull(column="amount", mostly=0.91))).passed


def test_unique_counts_every_row_of_a_repeated_value(orders: pl.DataFrame) -> None:
    result = only(run(orders, ex.Unique(columns=["customer_id"])))
    # customer 1 x3, 2 x3, 3 x2 repeat; customer 4 is unique; the null is not judged
    assert (result.failing, result.evaluated) == (8, 9)
    assert only(run(orders, ex.Unique(columns=["id"]))).passed


def test_compound_unique_judges_the_combination(orders: pl.DataFrame) -> None:
    result = only(run(orders, ex.Unique(columns=["customer_id", "order_no"])))
    # (3, 1) appears twice; (None, 1) is skipped because a key is null
    assert (result.failing, result.evaluated, result.passed) == (2, 9, False)
    assert sorted(r["id"] for r in result.samples) == [5, 6]


def test_between_honours_bounds_and_inclusive_flags(orders: pl.DataFrame) -> None:
    result = only(run(orders, ex.Between(column="amount", min=0, max=1000)))
    assert (result.failing, result.evaluated) == (1, 9)
    exclusive = only(
        run(
            orders,
            ex.Between(column="amount", min=10, max=1000, min_inclusive=False, max_inclusive=False),
        )
    )
    assert exclusive.failing == 3  # -5, 10 and 1000
    assert only(run(orders, ex.Between(column="amount", max=1000))).passed


def test_between_works_on_datetimes(orders: pl.DataFrame) -> None:
    spec = ex.Between(column="ordered_at", min=dt.datetime(2024, 6, 1, 5))
    assert only(run(orders, spec)).failing == 5


def test_in_set_skips_nulls(orders: pl.DataFrame) -> None:
    result = only(run(orders, ex.InSet(column="status", values=["open", "paid"])))
    assert (result.failing, result.evaluated) == (2, 9)
    numbers = only(run(orders, ex.InSet(column="amount", values=[10, 20.0, 30])))
    assert numbers.failing == 6


def test_regex_uses_search_semantics(orders: pl.DataFrame) -> None:
    result = only(run(orders, ex.Regex(column="email", pattern=r"^[^@]+@[^@]+\.[a-z]+$")))
    assert (result.failing, result.evaluated) == (2, 9)
    assert only(run(orders, ex.Regex(column="email", pattern="@"))).failing == 1


def test_dtype_matches_names_and_families(orders: pl.DataFrame) -> None:
    assert only(run(orders, ex.DtypeIs(column="id", dtype="int64"))).passed
    assert only(run(orders, ex.DtypeIs(column="id", dtype="integer"))).passed
    assert only(run(orders, ex.DtypeIs(column="ordered_at", dtype="datetime"))).passed
    wrong = only(run(orders, ex.DtypeIs(column="amount", dtype="string")))
    assert (wrong.passed, wrong.observed) == (False, "float64")


def test_row_count_range(orders: pl.DataFrame) -> None:
    assert only(run(orders, ex.RowCount(min=10, max=10))).passed
    result = only(run(orders, ex.RowCount(max=5)))
    assert (result.passed, result.observed) == (False, 10)


def test_freshness_compares_the_newest_timestamp_with_now(orders: pl.DataFrame) -> None:
    fresh = ex.Freshness(column="ordered_at", max_age=dt.timedelta(hours=3))
    stale = ex.Freshness(column="ordered_at", max_age=dt.timedelta(hours=2))
    assert only(run(orders, fresh)).passed  # newest is 09:00, now is 12:00
    assert not only(run(orders, stale)).passed
    aware_now = NOW.replace(tzinfo=dt.UTC)
    report = validate(ex.ExpectationSuite(expectations=[fresh]), orders, now=aware_now)
    assert report.passed


def test_freshness_on_dates_and_empty_frames(orders: pl.DataFrame) -> None:
    dated = orders.with_columns(pl.col("ordered_at").dt.date().alias("day"))
    spec = ex.Freshness(column="day", max_age=dt.timedelta(days=1))
    assert only(run(dated, spec)).passed
    assert not only(run(dated.clear(), spec)).passed


def test_freshness_needs_now(orders: pl.DataFrame) -> None:
    suite = ex.ExpectationSuite(expectations=[ex.Freshness(column="ordered_at", max_age="1h")])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="pass `now`"):
        validate(suite, orders)


def test_foreign_key_finds_keys_missing_from_the_reference(
    orders: pl.DataFrame, customers: pl.DataFrame
) -> None:
    spec = ex.ForeignKey(columns=["customer_id"], reference="customers", reference_columns=["cid"])
    result = only(run(orders, spec, frames={"customers": customers}))
    assert (result.failing, result.evaluated) == (1, 9)
    assert result.samples == [orders.filter(pl.col("customer_id") == 4).to_dicts()[0]]


def test_compound_foreign_key(orders: pl.DataFrame) -> None:
    pairs = pl.DataFrame({"customer_id": [1, 1, 2], "order_no": [1, 2, 1]})
    spec = ex.ForeignKey(columns=["customer_id", "order_no"], reference="pairs")
    result = only(run(orders, spec, frames={"pairs": pairs}))
    assert (result.failing, result.evaluated) == (6, 9)


def test_custom_expression_from_text_and_from_polars(orders: pl.DataFrame) -> None:
    text = only(run(orders, ex.Custom(name="pos", expr="amount > 0 or status == 'void'")))
    # row 5 has no amount but is void, so `or` still gives true: all ten rows are judged
    assert (text.name, text.failing, text.evaluated) == ("pos", 1, 10)
    native = only(run(orders, ex.Custom(name="pos", expr=pl.col("amount") > 0)))
    assert (native.failing, native.evaluated) == (1, 9)


def test_report_lists_every_result_and_serialises(
    orders: pl.DataFrame, customers: pl.DataFrame
) -> None:
    suite = ex.load_suite(
        """
        name: orders
        expectations:
          - {kind: not_null, column: id}
          - {kind: not_null, column: id, name: again}
          - {kind: between, column: amount, min: 0, mostly: 0.8}
          - {kind: row_count, min: 1}
        """
    )
    report = validate(suite, orders.lazy())
    assert report.passed
    assert report.row_count == 10
    assert report.suite == "orders"
    assert [r.name for r in report.results] == [
        "not_null(id)",
        "again",
        "between(amount)",
        "row_count()",
    ]
    text = report.model_dump_json()
    assert ValidationReport.model_validate_json(text).model_dump_json() == text


def test_default_names_are_made_unique(orders: pl.DataFrame) -> None:
    report = run(orders, ex.NotNull(column="id"), ex.NotNull(column="id"))
    assert [r.name for r in report.results] == ["not_null(id)", "not_null(id)#2"]


def test_all_expectations_are_evaluated_with_one_collect(
    orders: pl.DataFrame, customers: pl.DataFrame
) -> None:
    suite = ex.load_suite(
        """
        - {kind: not_null, column: id}
        - {kind: unique, column: id}
        - {kind: between, column: id, min: 1, max: 10}
        - {kind: in_set, column: id, values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}
        - {kind: regex, column: status, pattern: '.', mostly: 0.5}
        - kind: foreign_key
          column: customer_id
          reference: customers
          reference_columns: [cid]
        - {kind: custom, expr: "order_no > 0"}
        - {kind: row_count, min: 1}
        - {kind: freshness, column: ordered_at, max_age: 1d}
        """
    )
    everyone = pl.concat([customers, pl.DataFrame({"cid": [4], "region": ["us"]})])
    CountingFrame.collects = 0
    report = validate(suite, CountingFrame(orders), frames={"customers": everyone}, now=NOW)
    assert report.passed
    assert not any(r.failing for r in report.results)
    assert CountingFrame.collects == 1


def test_samples_come_from_a_second_query_only_when_something_fails(orders: pl.DataFrame) -> None:
    suite = ex.ExpectationSuite(
        expectations=[ex.NotNull(column="id"), ex.Between(column="id", max=3)]
    )
    CountingFrame.collects = 0
    report = validate(suite, CountingFrame(orders), sample_rows=2)
    assert CountingFrame.collects == 2  # the aggregate query, then one query for all samples
    failed = report.results[1]
    assert failed.failing == 7
    assert [r["id"] for r in failed.samples] == [4, 5]
    no_samples = validate(suite, orders, sample_rows=0)
    assert no_samples.results[1].samples == []


def test_plan_is_one_aggregate_select_over_the_frame(orders: pl.DataFrame) -> None:
    suite = ex.load_suite("[{kind: not_null, column: id}, {kind: between, column: amount, min: 0}]")
    query = plan(suite, orders).query
    assert query.collect_schema().names() == [
        "__rows",
        "__judged0",
        "__fail0",
        "__judged1",
        "__fail1",
    ]
    text = query.explain()
    assert text.count("DF [") == 1  # the frame is scanned once


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        (ex.NotNull(column="nope"), ["'not_null(nope)'", "column 'nope' not found"]),
        (ex.Unique(name="u", columns=["id", "nope"]), ["'u'", "column 'nope' not found"]),
        (
            ex.Regex(column="email", pattern="(unclosed"),
            ["'regex(email)'", "bad regular expression"],
        ),
        (ex.Regex(column="id", pattern="1"), ["column 'id' is int64", "regex needs text"]),
        (ex.Custom(name="c", expr="amount >"), ["'c'", "syntax error"]),
        (ex.Custom(name="c", expr="nope > 1"), ["'c'", "unknown column 'nope'"]),
        (ex.Custom(name="c", expr="amount + 1"), ["'c'", "float64, not a boolean"]),
        (ex.Custom(name="c", expr="status > 1"), ["'c'", "does not fit the column types"]),
        (
            ex.Between(column="status", min=0),
            ["'between(status)'", "does not fit the column types"],
        ),
        (ex.InSet(column="status", values=[1, 2]), ["'in_set(status)'", "does not fit"]),
        (ex.DtypeIs(column="id", dtype="whole"), ["unknown type 'whole'"]),
        (
            ex.Freshness(column="id", max_age=dt.timedelta(1)),
            ["column 'id' is int64", "date or datetime"],
        ),
        (ex.ForeignKey(columns=["customer_id"], reference="nope"), ["frame 'nope' was not given"]),
        (
            ex.ForeignKey(columns=["customer_id"], reference="customers"),
            ["column 'customer_id' not found in frame 'customers'"],
        ),
    ],
)
def test_bad_expectation_is_refused_before_reading_data(
    orders: pl.DataFrame, customers: pl.DataFrame, spec: ex.Expectation, fragments: list[str]
) -> None:
    CountingFrame.collects = 0
    with pytest.raises(InvalidInput) as caught:
        run(CountingFrame(orders), spec, frames={"customers": customers})
    for fragment in fragments:
        assert fragment in caught.value.message
    assert CountingFrame.collects == 0


def test_duplicate_explicit_names_are_refused(orders: pl.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="two expectations are named 'x'"):
        run(orders, ex.NotNull(name="x", column="id"), ex.NotNull(name="x", column="amount"))


def test_unknown_kind_from_yaml_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown kind 'no_nulls'"):
        ex.load_suite("[{kind: no_nulls, column: id}]")


def test_streaming_and_in_memory_engines_agree(orders: pl.DataFrame) -> None:
    suite = ex.load_suite(
        "[{kind: unique, columns: [customer_id, order_no]},"
        " {kind: between, column: amount, min: 0}]"
    )
    a = validate(suite, orders.lazy(), engine="streaming")
    b = validate(suite, orders.lazy(), engine="in-memory")
    assert [r.failing for r in a.results] == [r.failing for r in b.results] == [2, 1]


def test_empty_suite_passes(orders: pl.DataFrame) -> None:
    report = validate(ex.ExpectationSuite(), orders)
    assert report.passed
    assert (report.row_count, report.results) == (10, [])
