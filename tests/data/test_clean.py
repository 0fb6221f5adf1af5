"""Cleaning: every step, quarantine of failed coercions, dry-run counts, refused recipes."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from corridor.data.sansio import recipe as rc
from corridor.data.sansio.clean import QUARANTINE_COLUMNS, apply, dry_run
from corridor.errors import InvalidInput


class CountingFrame(pl.LazyFrame):
    collects: ClassVar[int] = 0

    def collect(self, *args: Any, **kwargs: Any) -> Any:
        CountingFrame.collects += 1
        return super().collect(*args, **kwargs)


def clean(frame: pl.DataFrame, *steps: rc.Step, **frames: pl.DataFrame) -> pl.DataFrame:
    output, _ = apply(rc.Recipe(steps=list(steps)), frame, frames).collect()
    return output


def test_dedupe_keeps_first_or_last_in_order() -> None:
    frame = pl.DataFrame({"k": [1, 2, 1, 3, 2], "v": ["a", "b", "c", "d", "e"]})
    first = clean(frame, rc.Dedupe(columns=["k"]))
    last = clean(frame, rc.Dedupe(columns=["k"], keep="last"))
    assert first.to_dict(as_series=False) == {"k": [1, 2, 3], "v": ["a", "b", "d"]}
    assert last.to_dict(as_series=False) == {"k": [1, 3, 2], "v": ["c", "d", "e"]}
    assert clean(frame, rc.Dedupe()).height == 5  # whole rows are all distinct


def test_drop_missing_any_or_all() -> None:
    frame = pl.DataFrame({"a": [1, None, None, 4], "b": [1, 2, None, None]})
    assert clean(frame, rc.DropMissing()).height == 1
    assert clean(frame, rc.DropMissing(how="all")).height == 3
    assert clean(frame, rc.DropMissing(columns=["a"])).height == 2


@pytest.mark.parametrize(
    ("strategy", "value", "expected"),
    [
        ("constant", 0, [1, 0, 3, 0, 10]),
        ("mean", None, [1, 5, 3, 5, 10]),  # mean of 1, 3, 10 is 4.67, rounded for an integer column
        ("median", None, [1, 3, 3, 3, 10]),
        ("mode", None, [1, 1, 3, 1, 10]),  # all tie once: the smallest wins
        ("forward_fill", None, [1, 1, 3, 3, 10]),
        ("backward_fill", None, [1, 3, 3, 10, 10]),
    ],
)
def test_impute_fills_nulls_and_keeps_the_type(
    strategy: Any, value: Any, expected: list[int]
) -> None:
    frame = pl.DataFrame({"x": [1, None, 3, None, 10]})
    out = clean(frame, rc.Impute(columns=["x"], strategy=strategy, value=value))
    assert out["x"].to_list() == expected
    assert out["x"].dtype == pl.Int64


def test_impute_mean_of_floats_is_exact() -> None:
    out = clean(pl.DataFrame({"x": [1.0, None, 2.0]}), rc.Impute(columns=["x"], strategy="mean"))
    assert out["x"].to_list() == [1.0, 1.5, 2.0]


def test_coerce_quarantines_rows_that_do_not_convert() -> None:
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "amount": [" 10", "x", "5.5", None, "1e3"],
            "day": ["2024-01-02", "2024-01-03", "soon", "2024-02-30", None],
            "flag": ["yes", "N", "true", "0", "maybe"],
        }
    )
    step = rc.Coerce(columns={"amount": "float64", "day": "date", "flag": "bool"})
    output, quarantine = apply(rc.Recipe(steps=[step]), frame).collect()
    assert output.to_dict(as_series=False) == {
        "id": [1],
        "amount": [10.0],
        "day": [dt.date(2024, 1, 2)],
        "flag": [True],
    }
    assert quarantine.columns == ["_step", "_step_name", "_reason", "id", "amount", "day", "flag"]
    assert quarantine["id"].to_list() == [2, 3, 4, 5]
    reasons = dict(zip(quarantine["id"], quarantine["_reason"], strict=True))
    assert reasons[2] == "column 'amount': value 'x' is not a valid float64"
    assert reasons[3] == "column 'day': value 'soon' is not a valid date"
    assert reasons[4] == "column 'day': value '2024-02-30' is not a valid date"
    assert reasons[5] == "column 'flag': value 'maybe' is not a valid bool"
    assert output.height + quarantine.height == frame.height  # nothing silently dropped


def test_coerce_with_format_and_lossless_numbers() -> None:
    frame = pl.DataFrame({"when": ["02/01/2024 10:30", "bad"], "n": [2.0, 2.5]})
    step = rc.Coerce(columns={"when": "datetime", "n": "int32"}, formats={"when": "%d/%m/%Y %H:%M"})
    output, quarantine = apply(rc.Recipe(steps=[step]), frame).collect()
    assert output.to_dicts() == [{"when": dt.datetime(2024, 1, 2, 10, 30), "n": 2}]
    assert output.schema["n"] == pl.Int32
    assert quarantine["_reason"].to_list() == [
        "column 'when': value 'bad' is not a valid datetime; "
        "column 'n': value '2.5' is not a valid int32"
    ]


def test_quarantine_is_empty_and_typed_without_coercion() -> None:
    result = apply(rc.Recipe(steps=[rc.Dedupe()]), pl.DataFrame({"a": [1]}))
    _, quarantine = result.collect()
    assert quarantine.height == 0
    assert dict(quarantine.schema) == {**QUARANTINE_COLUMNS, "a": pl.Int64()}


def test_normalise_text() -> None:
    frame = pl.DataFrame({"s": ["  Ann \t Lee ", "Cafe\u0301", "", None], "n": [1, 2, 3, 4]})
    out = clean(frame, rc.NormaliseText(case="lower", empty_as_null=True))
    assert out["s"].to_list() == ["ann lee", "caf\u00e9", None, None]
    kept = clean(
        frame,
        rc.NormaliseText(
            columns=["s"], strip=False, collapse_whitespace=False, unicode=None, case="upper"
        ),
    )
    assert kept["s"].to_list() == ["  ANN \t LEE ", "CAFE\u0301", "", None]


def test_clip_and_winsorise() -> None:
    frame = pl.DataFrame({"x": [float(v) for v in range(1, 11)], "i": list(range(1, 11))})
    clipped = clean(frame, rc.Clip(columns=["x"], lower=2, upper=8.5))
    assert clipped["x"].to_list() == [2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 8.5, 8.5]
    wins = clean(frame, rc.Winsorise(columns=["x", "i"], lower_quantile=0.1, upper_quantile=0.9))
    # linear quantiles of 1..10: q0.1 = 1.9, q0.9 = 9.1; the integer column rounds them to 2 and 9
    assert wins["x"].to_list() == [1.9, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 9.1]
    assert wins["i"].to_list() == [2, 2, 3, 4, 5, 6, 7, 8, 9, 9]


def test_rename_select_drop() -> None:
    frame = pl.DataFrame({"a": [1], "b": [2], "c": [3]})
    out = clean(
        frame, rc.Rename(mapping={"a": "x"}), rc.Select(columns=["c", "x"]), rc.Drop(columns=["c"])
    )
    assert out.to_dict(as_series=False) == {"x": [1]}


def test_filter_and_derive_with_safe_expressions() -> None:
    frame = pl.DataFrame({"price": [1.0, 5.0, None], "qty": [2, 3, 4]})
    out = clean(
        frame,
        rc.Derive(column="total", expr="price * qty"),
        rc.Derive(column="qty", expr="qty + 1"),
        rc.Filter(expr="total > 2"),
    )
    assert out.to_dict(as_series=False) == {"price": [5.0], "qty": [4], "total": [15.0]}
    native = clean(frame, rc.Filter(expr=pl.col("qty") > 2))
    assert native.height == 2


def test_join_with_a_named_frame() -> None:
    orders = pl.DataFrame({"cust": [1, 2, 9], "amount": [10, 20, 30]})
    customers = pl.DataFrame({"id": [1, 2], "country": ["UK", "FR"]})
    left = clean(
        orders,
        rc.Join(frame="customers", left_on=["cust"], right_on=["id"], how="left"),
        customers=customers,
    )
    assert left.to_dict(as_series=False) == {
        "cust": [1, 2, 9],
        "amount": [10, 20, 30],
        "country": ["UK", "FR", None],
    }
    anti = clean(
        orders,
        rc.Join(frame="customers", left_on=["cust"], right_on=["id"], how="anti"),
        customers=customers,
    )
    assert anti["cust"].to_list() == [9]
    same = customers.rename({"id": "cust"})
    inner = clean(
        orders, rc.Join.model_validate({"kind": "join", "frame": "c", "on": ["cust"]}), c=same
    )
    assert inner.height == 2


def test_recipe_from_yaml_matches_hand_written_polars() -> None:
    recipe = rc.load_recipe(
        """
        name: orders-clean
        steps:
          - {kind: normalise_text, columns: [name], case: lower}
          - {kind: coerce, columns: {amount: float64}}
          - {kind: dedupe, columns: [id], keep: last}
          - {kind: impute, columns: [amount], strategy: median}
          - {kind: derive, column: big, expr: "amount > 50"}
          - {kind: join, frame: customers, on: [cust], how: left}
          - {kind: filter, expr: "country is not None"}
        """
    )
    frame = pl.DataFrame(
        {
            "id": [1, 2, 2, 3, 4],
            "amount": [" 10", "x", "5.5", None, "100"],
            "name": ["  Ann  Lee ", "bob", "Bob", "Zoe", None],
            "cust": [1, 1, 2, 3, 9],
        }
    )
    customers = pl.DataFrame({"cust": [1, 2, 3], "country": ["UK", "FR", "DE"]})
    output, quarantine = apply(recipe, frame, {"customers": customers}).collect()
    expected = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "amount": [10.0, 5.5, 10.0],
            "name": ["ann lee", "bob", "zoe"],
            "cust": [1, 2, 3],
            "big": [False, False, False],
            "country": ["UK", "FR", "DE"],
        }
    )
    assert_frame_equal(output, expected)
    assert quarantine["id"].to_list() == [2]


def test_dry_run_reports_rows_cells_and_columns_per_step() -> None:
    recipe = rc.Recipe(
        steps=[
            rc.NormaliseText(columns=["name"], case="lower"),
            rc.Coerce(name="amounts", columns={"amount": "float64"}),
            rc.Dedupe(columns=["id"]),
            rc.Impute(columns=["amount"], strategy="constant", value=0.0),
            rc.Derive(column="double", expr="amount * 2"),
            rc.Filter(expr="amount > 0"),
            rc.Drop(columns=["name"]),
        ]
    )
    frame = pl.DataFrame(
        {
            "id": [1, 1, 2, 3, 4],
            "amount": ["1", "1", "x", None, "4"],
            "name": ["A", "a", "b", "C", None],
        }
    )
    reports = dry_run(recipe, frame)
    summary = [
        (r.kind, r.rows_in, r.rows_out, r.cells_changed, r.rows_quarantined) for r in reports
    ]
    assert summary == [
        ("normalise_text", 5, 5, 2, 0),
        ("coerce", 5, 4, 3, 1),
        ("dedupe", 4, 3, 0, 0),
        ("impute", 3, 3, 1, 0),
        ("derive", 3, 3, 3, 0),
        ("filter", 3, 2, 0, 0),
        ("drop", 2, 2, 0, 0),
    ]
    assert reports[1].label == "step 2 'amounts' (coerce)"
    assert reports[4].columns_added == ["double"]
    assert reports[6].columns_removed == ["name"]


def test_apply_reads_no_data() -> None:
    CountingFrame.collects = 0
    result = apply(
        rc.Recipe(steps=[rc.Coerce(columns={"a": "int64"}), rc.Dedupe()]),
        CountingFrame({"a": ["1", "x"]}),
    )
    assert CountingFrame.collects == 0
    assert result.output.collect()["a"].to_list() == [1]
    assert CountingFrame.collects == 1


@pytest.mark.parametrize(
    ("step", "fragments"),
    [
        (rc.Dedupe(columns=["nope"]), ["step 1 (dedupe)", "column 'nope' not found"]),
        (rc.Coerce(name="c", columns={"nope": "int64"}), ["step 1 'c' (coerce)", "column 'nope'"]),
        (rc.Coerce(columns={"a": "whole"}), ["unknown type 'whole'"]),
        (rc.Coerce(columns={"n": "date"}, formats={"n": "%Y"}), ["format applies only to text"]),
        (rc.Impute(columns=["a"], strategy="mean"), ["column 'a' is string", "mean needs numbers"]),
        (
            rc.Impute(columns=["n"], strategy="constant", value="x"),
            ["value 'x' does not fit column 'n'"],
        ),
        (rc.NormaliseText(columns=["n"]), ["column 'n' is int64, not text"]),
        (rc.Clip(columns=["a"], lower=0), ["column 'a' is string", "clip needs numbers"]),
        (rc.Rename(mapping={"a": "n"}), ["two columns the name 'n'"]),
        (rc.Filter(expr="n >"), ["step 1 (filter)", "syntax error"]),
        (rc.Filter(expr="n + 1"), ["gives int64, not a boolean"]),
        (rc.Filter(expr="a > 1"), ["does not fit the column types"]),
        (rc.Derive(column="z", expr="nope * 2"), ["step 1 (derive)", "unknown column 'nope'"]),
        (rc.Join(frame="missing", on=["a"]), ["frame 'missing' was not given"]),
        (rc.Join(frame="other", on=["n"]), ["column 'n' not found in frame 'other'"]),
        (rc.Join(frame="other", left_on=["n"], right_on=["a"]), ["does not fit the column types"]),
    ],
)
def test_bad_step_is_refused_naming_it(step: rc.Step, fragments: list[str]) -> None:
    frame = pl.DataFrame({"a": ["x"], "n": [1]})
    with pytest.raises(InvalidInput) as caught:
        apply(rc.Recipe(steps=[step]), frame, {"other": pl.DataFrame({"a": ["y"]})})
    for fragment in fragments:
        assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[{kind: scrub}]", "unknown kind 'scrub'"),
        ("[{kind: impute, columns: [a], strategy: constant}]", "give value exactly when"),
        ("[{kind: join, frame: f}]", "give either on, or both"),
        (
            "[{kind: winsorise, columns: [a], lower_quantile: 0.9, upper_quantile: 0.1}]",
            "must not exceed",
        ),
        ("[{kind: clip, columns: [a]}]", "give lower, upper or both"),
    ],
)
def test_bad_recipe_text_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        rc.load_recipe(text)


def test_recipe_round_trips_through_json() -> None:
    recipe = rc.Recipe(
        steps=[
            rc.Coerce(columns={"a": "int64"}),
            rc.Join(frame="f", on=["a"]),
            rc.Filter(expr="a > 1"),
        ]
    )
    assert rc.load_recipe(recipe.model_dump_json()) == recipe


def test_quarantines_of_several_coercions_are_combined() -> None:
    frame = pl.DataFrame({"a": ["1", "x", "3"], "b": ["1", "2", "y"]})
    recipe = rc.Recipe(
        steps=[
            rc.Coerce(name="first", columns={"a": "int64"}),
            rc.Coerce(name="second", columns={"b": "int64"}),
        ]
    )
    output, quarantine = apply(recipe, frame).collect()
    assert output.to_dict(as_series=False) == {"a": [1], "b": [1]}
    assert quarantine.select("_step", "_step_name").rows() == [(0, "first"), (1, "second")]
    assert quarantine["a"].to_list() == ["x", "3"]  # as the row stood at each step, as text


def test_empty_recipe_passes_the_frame_through() -> None:
    frame = pl.DataFrame({"a": [1, 2]})
    output, quarantine = apply(rc.Recipe(), frame).collect()
    assert_frame_equal(output, frame)
    assert quarantine.height == 0
    assert dry_run(rc.Recipe(), frame) == []
