"""Drift: PSI and KS against values worked out by hand, schema changes, profile approximation."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from corridor.data.sansio.drift import (
    binned,
    compare,
    compare_profiles,
    ks_statistic,
    psi,
    quantile_edges,
)
from corridor.data.sansio.profile import profile
from corridor.errors import InvalidInput


def test_psi_of_known_fractions() -> None:
    # (0.1-0.25)ln(0.4) + (0.2-0.25)ln(0.8) + (0.3-0.25)ln(1.2) + (0.4-0.25)ln(1.6)
    # = 0.137444 + 0.011157 + 0.009116 + 0.070501
    assert psi([0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.228218, abs=1e-6)
    assert psi([25, 25, 25, 25], [10, 20, 30, 40]) == pytest.approx(0.228218, abs=1e-6)
    assert psi([1, 2, 3], [1, 2, 3]) == 0.0


def test_psi_floors_empty_bins_at_epsilon() -> None:
    # (0.5-0.25)ln(2) + (0.0001-0.25)ln(0.0001/0.25)
    expected = 0.25 * math.log(2) + (1e-4 - 0.25) * math.log(1e-4 / 0.25)
    assert psi([1, 1, 1, 1], [2, 0, 1, 1]) == pytest.approx(expected)
    with pytest.raises(InvalidInput, match="same number of bins"):
        psi([1, 2], [1, 2, 3])


def test_bins_are_cut_at_the_reference_quantiles() -> None:
    reference = np.arange(1.0, 9.0)  # 1..8
    edges = quantile_edges(reference, 4)
    assert edges.tolist() == [2.75, 4.5, 6.25]  # linear: positions 1.75, 3.5 and 5.25
    assert binned(reference, edges).tolist() == [2, 2, 2, 2]
    current = np.array([1.0, 1.0, 1.0, 1.0, 5.0, 6.0, 7.0, 8.0])
    assert binned(current, edges).tolist() == [4, 0, 2, 2]
    assert binned([2.75, 2.76], edges).tolist() == [1, 1, 0, 0]  # bins are closed on the right


def test_ks_statistic_of_known_samples() -> None:
    # ECDFs of {1,2,3,4} and {3,4,5,6} differ by 1/2 at x=2 (2/4 vs 0) and x=4 (1 vs 2/4)
    assert ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(0.5)
    # at x=3: F_a = 1, F_b = 2/4
    assert ks_statistic([1, 2, 3], [1.5, 2.5, 3.5, 4.5]) == pytest.approx(0.5)
    assert ks_statistic([1, 2, 3], [1, 2, 3]) == 0.0
    assert ks_statistic([1, 2], [10, 20]) == 1.0


def test_ks_statistic_agrees_with_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 1, 500), rng.normal(0.3, 1.2, 700)
    assert ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic)


def test_compare_frames_reports_schema_changes_and_per_column_drift() -> None:
    reference = pl.DataFrame(
        {
            "x": [float(v) for v in range(1, 9)],
            "c": ["a"] * 4 + ["b"] * 4,
            "gone": [1] * 8,
            "retyped": [1] * 8,
        }
    )
    current = pl.DataFrame(
        {
            "x": [1.0, 1.0, 1.0, 1.0, 5.0, 6.0, 7.0, 8.0],
            "c": ["a"] * 2 + ["b"] * 6,
            "new": ["n"] * 8,
            "retyped": ["1"] * 8,
        }
    )
    report = compare(reference, current, bins=4)
    changes = {(c.column, c.change) for c in report.schema_changes}
    assert changes == {("gone", "removed"), ("new", "added"), ("retyped", "type_changed")}
    x = next(c for c in report.columns if c.column == "x")
    assert x.psi == pytest.approx(0.25 * math.log(2) + (1e-4 - 0.25) * math.log(1e-4 / 0.25))
    assert x.ks == pytest.approx(0.375)  # at x=1: F_ref = 1/8, F_cur = 4/8
    c = next(c for c in report.columns if c.column == "c")
    # (0.25-0.5)ln(0.5) + (0.75-0.5)ln(1.5)
    assert c.psi == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert (x.drifted, c.drifted, report.drifted) == (True, True, True)
    assert {col.column for col in report.columns} == {"x", "c"}


def test_identical_frames_do_not_drift() -> None:
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, None], "c": ["a", "b", None, "a"]})
    report = compare(frame, frame.lazy())
    assert not report.drifted
    assert all(col.psi == 0.0 for col in report.columns)
    assert report.columns[0].missing_reference == 0.25


def test_new_categories_count_as_drift() -> None:
    reference = pl.DataFrame({"c": ["a", "b"] * 50})
    current = pl.DataFrame({"c": ["a", "b", "z", "z"] * 25})
    report = compare(reference, current)
    assert report.columns[0].psi > 0.25


def test_ks_threshold_can_flag_drift_that_psi_misses() -> None:
    reference = pl.DataFrame({"x": np.linspace(0, 1, 1000)})
    current = pl.DataFrame({"x": np.linspace(0, 1, 1000) ** 1.1})
    assert not compare(reference, current).drifted
    assert compare(reference, current, ks_threshold=0.01).drifted


def test_profiles_approximate_the_frame_comparison() -> None:
    rng = np.random.default_rng(3)
    reference = pl.DataFrame(
        {"x": rng.normal(0, 1, 20_000), "c": rng.choice(["a", "b", "c"], 20_000)}
    )
    current = pl.DataFrame(
        {
            "x": rng.normal(0.5, 1, 20_000),
            "c": rng.choice(["a", "b", "c"], 20_000, p=[0.6, 0.2, 0.2]),
        }
    )
    exact = compare(reference, current)
    approx = compare_profiles(profile(reference), profile(current))
    assert approx.approximate
    for e, a in zip(exact.columns, approx.columns, strict=True):
        assert a.psi == pytest.approx(e.psi, rel=0.15)
        if e.ks is not None:
            assert a.ks == pytest.approx(e.ks, abs=0.03)
    same = compare_profiles(profile(reference), profile(reference))
    assert not same.drifted
