"""Wrong results and crashes found in review: each test pins the corrected behaviour."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.data.sansio import expectations as ex
from corridor.data.sansio import recipe as rc
from corridor.data.sansio.clean import apply, dry_run
from corridor.data.sansio.drift import compare
from corridor.data.sansio.profile import profile
from corridor.data.sansio.validate import validate
from corridor.errors import InvalidInput

NAN = float("nan")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_upload_reads_iso_dates_as_text_by_default_like_a_path(
    client: Client, data: DataClient, tmp_path: Path
) -> None:
    text = b"day\n2024-01-01\n2024-01-02\n"
    client.request("POST", "/api/v1/dataset-uploads/p/uploaded", content=text)
    (tmp_path / "days.csv").write_bytes(text)
    data.ingest(tmp_path / "days.csv", "from-path", project="p")
    uploaded, from_path = data.show("p/uploaded@1"), data.show("p/from-path@1")
    assert [(c.name, c.dtype) for c in uploaded.columns] == [("day", "string")]
    assert uploaded.digest == from_path.digest


@pytest.mark.parametrize(
    "step",
    [rc.Winsorise(columns=["day"]), rc.Clip(columns=["day"], lower=0)],
    ids=["winsorise", "clip"],
)
def test_clipping_a_date_column_is_refused_naming_it(step: rc.Step) -> None:
    frame = pl.DataFrame({"day": [dt.date(2024, 1, d) for d in range(1, 6)]})
    with pytest.raises(InvalidInput, match=f"column 'day' is date; {step.kind} needs numbers"):
        apply(rc.Recipe(steps=[step]), frame).collect()


def test_dry_run_counts_a_derive_that_changes_the_type_as_changing_every_value() -> None:
    frame = pl.DataFrame({"x": ["ab", "c", None], "y": ["1", None, None]})
    recipe = rc.Recipe(
        steps=[rc.Derive(column="y", expr="len(x)"), rc.Derive(column="x", expr="len(x)")]
    )
    # y: "1" becomes 2 and a null becomes 1; x: two values become lengths, the null stays null
    assert [r.cells_changed for r in dry_run(recipe, frame)] == [2, 2]


def test_unique_check_handles_unsigned_values_near_two_to_the_64() -> None:
    suite = ex.ExpectationSuite(expectations=[ex.Unique(columns=["u"])])
    distinct = pl.DataFrame({"u": pl.Series([2**64 - 1, 0, 2**63], dtype=pl.UInt64)})
    repeated = pl.DataFrame({"u": pl.Series([2**64 - 1, 0, 2**64 - 1], dtype=pl.UInt64)})
    assert validate(suite, distinct).passed
    result = validate(suite, repeated).results[0]
    assert (result.passed, result.failing) == (False, 2)


def test_foreign_key_does_not_truncate_reference_keys() -> None:
    suite = ex.ExpectationSuite(
        expectations=[ex.ForeignKey(columns=["id"], reference="r", reference_columns=["k"])]
    )
    frame = pl.DataFrame({"id": [1, 2, 3]})
    fractional = validate(suite, frame, frames={"r": pl.DataFrame({"k": [1.7, 2.2, 3.9]})})
    assert (fractional.passed, fractional.results[0].failing) == (False, 3)
    whole = validate(suite, frame, frames={"r": pl.DataFrame({"k": [1.0, 2.0, 3.0, 4.5]})})
    assert whole.passed


def test_foreign_key_keys_without_a_common_type_are_refused() -> None:
    suite = ex.ExpectationSuite(
        expectations=[ex.ForeignKey(columns=["id"], reference="r", reference_columns=["k"])]
    )
    frame = pl.DataFrame({"id": [True]})
    with pytest.raises(InvalidInput, match=r"column 'id' is bool but r\.k is date"):
        validate(suite, frame, frames={"r": pl.DataFrame({"k": [dt.date(2024, 1, 1)]})})


def test_profile_counts_nan_as_missing_and_leaves_it_out_of_statistics() -> None:
    x = profile(pl.DataFrame({"x": [1.0, NAN, 3.0]})).column("x")
    assert (x.missing, x.distinct, x.min, x.max, x.mean) == (1, 2, 1.0, 3.0, 2.0)
    assert x.quantiles["0.5"] == 2.0
    assert x.histogram is not None
    assert sum(x.histogram.counts) == 2


def test_drift_leaves_nan_out_of_the_reference_bins() -> None:
    reference = pl.DataFrame({"x": [float(i) for i in range(100)] + [NAN]})
    current = pl.DataFrame({"x": [float(i) + 1000 for i in range(100)]})
    drift = compare(reference, current).columns[0]
    assert drift.drifted
    assert drift.psi > 1
    assert drift.missing_reference == pytest.approx(1 / 101)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_keyed_diff_refuses_keys_that_repeat(data: DataClient) -> None:
    frame = pl.DataFrame({"id": [1, 2, 2], "v": ["a", "b", "c"]})
    data.ingest(frame, "a", project="p")
    data.ingest(frame, "b", project="p")
    with pytest.raises(InvalidInput, match=r"key id is not unique in p/a@1: 2 appears 2 times"):
        data.diff("p/a@1", "p/b@1", keys=["id"])
    # Rows with a null key match nothing and are counted as added and removed, not refused.
    other = pl.DataFrame({"id": [1, None, None], "v": ["a", "b", "c"]})
    data.ingest(other, "c", project="p")
    data.ingest(other, "d", project="p")
    keyed = data.diff("p/c@1", "p/d@1", keys=["id"]).keyed
    assert keyed is not None
    assert (keyed.added, keyed.removed, keyed.unchanged) == (2, 2, 1)
