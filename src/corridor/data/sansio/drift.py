"""Compare two frames (or two stored profiles) for schema changes and distribution drift.

Numeric columns: PSI over bins cut at the reference's quantiles, and the two-sample
Kolmogorov-Smirnov statistic (the largest gap between the two empirical CDFs). Text and boolean
columns: PSI over category frequencies (the reference's ``top`` categories, the rest pooled as
one "other" category). Nulls and NaN are left out of both and reported as missing fractions.

PSI = sum over bins of (current - reference) * ln(current / reference), with each fraction
floored at ``epsilon`` so that an empty bin does not make it infinite. Common reading: below 0.1
stable, 0.1 to 0.25 moderate shift, above 0.25 large shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import BaseModel

from corridor.data.sansio.dtypes import dtype_name
from corridor.data.sansio.profile import ColumnProfile, Profile, column_kind, nan_as_null
from corridor.errors import InvalidInput

Frame = pl.LazyFrame | pl.DataFrame
Floats = npt.NDArray[np.float64]
OTHER = "__other__"


class SchemaChange(BaseModel):
    column: str
    change: Literal["added", "removed", "type_changed"]
    reference_dtype: str | None = None
    current_dtype: str | None = None


class ColumnDrift(BaseModel):
    column: str
    kind: Literal["numeric", "categorical"]
    psi: float
    ks: float | None = None
    missing_reference: float
    missing_current: float
    drifted: bool


class DriftReport(BaseModel):
    schema_changes: list[SchemaChange]
    columns: list[ColumnDrift]
    approximate: bool = False  # True when computed from profiles rather than data
    drifted: bool


def psi(
    reference: Sequence[float] | Floats, current: Sequence[float] | Floats, epsilon: float = 1e-4
) -> float:
    """Population stability index of two histograms over the same bins (counts or fractions)."""
    ref, cur = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    if ref.shape != cur.shape or ref.ndim != 1:
        raise InvalidInput("psi needs two histograms with the same number of bins")
    if ref.sum() <= 0 or cur.sum() <= 0:
        return 0.0
    e = np.maximum(ref / ref.sum(), epsilon)
    a = np.maximum(cur / cur.sum(), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_statistic(reference: Sequence[float] | Floats, current: Sequence[float] | Floats) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: max |F_reference(x) - F_current(x)|."""
    a, b = np.sort(np.asarray(reference, np.float64)), np.sort(np.asarray(current, np.float64))
    if a.size == 0 or b.size == 0:
        return 0.0
    points = np.concatenate([a, b])
    gap = (
        np.searchsorted(a, points, side="right") / a.size
        - np.searchsorted(b, points, side="right") / b.size
    )
    return float(np.max(np.abs(gap)))


def quantile_edges(reference: Sequence[float] | Floats, bins: int) -> Floats:
    """Interior bin edges at the reference's quantiles 1/bins .. (bins-1)/bins, deduplicated."""
    values = np.asarray(reference, np.float64)
    if values.size == 0:
        return np.asarray([], np.float64)
    edges = np.quantile(values, np.arange(1, bins) / bins)
    return np.unique(edges)


def binned(values: Sequence[float] | Floats, edges: Floats) -> Floats:
    """Counts per bin (-inf, e1], (e1, e2], ..., (ek, inf)."""
    index = np.searchsorted(edges, np.asarray(values, np.float64), side="left")
    return np.bincount(index, minlength=edges.size + 1).astype(np.float64)


def compare(
    reference: Frame,
    current: Frame,
    *,
    bins: int = 10,
    top: int = 50,
    psi_threshold: float = 0.2,
    ks_threshold: float | None = None,
) -> DriftReport:
    """Drift of ``current`` from ``reference`` over the columns both have with a comparable kind."""
    ref_lf, cur_lf = reference.lazy(), current.lazy()
    ref_schema, cur_schema = ref_lf.collect_schema(), cur_lf.collect_schema()
    changes = _schema_changes(
        {n: dtype_name(t) for n, t in ref_schema.items()},
        {n: dtype_name(t) for n, t in cur_schema.items()},
    )
    shared = [
        n
        for n in ref_schema
        if n in cur_schema and _kind(ref_schema[n]) and _kind(ref_schema[n]) == _kind(cur_schema[n])
    ]
    ref_df, cur_df = pl.collect_all(
        [
            ref_lf.select(nan_as_null(ref_schema, shared)),
            cur_lf.select(nan_as_null(cur_schema, shared)),
        ]
    )
    drifts = []
    for name in shared:
        ref_s, cur_s = ref_df[name], cur_df[name]
        missing = (_missing(ref_s), _missing(cur_s))
        if _kind(ref_schema[name]) == "numeric":
            a, b = (
                ref_s.drop_nulls().cast(pl.Float64).to_numpy(),
                cur_s.drop_nulls().cast(pl.Float64).to_numpy(),
            )
            edges = quantile_edges(a, bins)
            value, ks = psi(binned(a, edges), binned(b, edges)), ks_statistic(a, b)
            drifted = value >= psi_threshold or (ks_threshold is not None and ks >= ks_threshold)
            drifts.append(
                ColumnDrift(
                    column=name,
                    kind="numeric",
                    psi=value,
                    ks=ks,
                    missing_reference=missing[0],
                    missing_current=missing[1],
                    drifted=drifted,
                )
            )
        else:
            ref_counts, cur_counts = _frequencies(ref_s), _frequencies(cur_s)
            value = psi(*_aligned(ref_counts, cur_counts, top))
            drifts.append(
                ColumnDrift(
                    column=name,
                    kind="categorical",
                    psi=value,
                    missing_reference=missing[0],
                    missing_current=missing[1],
                    drifted=value >= psi_threshold,
                )
            )
    return DriftReport(
        schema_changes=changes,
        columns=drifts,
        drifted=any(d.drifted for d in drifts) or bool(changes),
    )


def compare_profiles(
    reference: Profile,
    current: Profile,
    *,
    psi_threshold: float = 0.2,
    ks_threshold: float | None = None,
) -> DriftReport:
    """Approximate drift from two stored profiles, without the data.

    Numeric columns: each CDF is rebuilt piecewise-linearly from the profile's min, quantiles and
    max; PSI uses the reference's deciles as edges and KS the largest CDF gap at the known points.
    Categorical columns: PSI over the top values, the remainder pooled as "other".
    """
    ref_cols, cur_cols = (
        {c.name: c for c in reference.columns},
        {c.name: c for c in current.columns},
    )
    changes = _schema_changes(
        {n: c.dtype for n, c in ref_cols.items()}, {n: c.dtype for n, c in cur_cols.items()}
    )
    drifts = []
    for name, ref in ref_cols.items():
        cur = cur_cols.get(name)
        if cur is None or cur.kind != ref.kind:
            continue
        if ref.kind == "numeric" and ref.quantiles and cur.quantiles:
            value, ks = _profile_numeric(ref, cur)
            drifted = value >= psi_threshold or (ks_threshold is not None and ks >= ks_threshold)
            drifts.append(
                ColumnDrift(
                    column=name,
                    kind="numeric",
                    psi=value,
                    ks=ks,
                    missing_reference=ref.missing_fraction,
                    missing_current=cur.missing_fraction,
                    drifted=drifted,
                )
            )
        elif ref.kind in ("text", "boolean") and ref.top_values and cur.top_values:
            value = psi(*_aligned(_top_counts(ref), _top_counts(cur), len(ref.top_values)))
            drifts.append(
                ColumnDrift(
                    column=name,
                    kind="categorical",
                    psi=value,
                    missing_reference=ref.missing_fraction,
                    missing_current=cur.missing_fraction,
                    drifted=value >= psi_threshold,
                )
            )
    return DriftReport(
        schema_changes=changes,
        columns=drifts,
        approximate=True,
        drifted=any(d.drifted for d in drifts) or bool(changes),
    )


def _schema_changes(ref: dict[str, str], cur: dict[str, str]) -> list[SchemaChange]:
    out = [
        SchemaChange(column=n, change="removed", reference_dtype=t)
        for n, t in ref.items()
        if n not in cur
    ]
    out += [
        SchemaChange(column=n, change="added", current_dtype=t)
        for n, t in cur.items()
        if n not in ref
    ]
    out += [
        SchemaChange(column=n, change="type_changed", reference_dtype=t, current_dtype=cur[n])
        for n, t in ref.items()
        if n in cur and cur[n] != t
    ]
    return out


def _kind(dtype: pl.DataType) -> str | None:
    kind = column_kind(dtype)
    return {"numeric": "numeric", "text": "categorical", "boolean": "categorical"}.get(kind)


def _missing(series: pl.Series) -> float:
    return series.null_count() / series.len() if series.len() else 0.0


def _frequencies(series: pl.Series) -> dict[str, float]:
    counts = series.drop_nulls().cast(pl.String).value_counts(name="__n")
    return dict(
        zip(counts[series.name].to_list(), counts["__n"].cast(pl.Float64).to_list(), strict=True)
    )


def _top_counts(column: ColumnProfile) -> dict[str, float]:
    counts = {
        str(t.value).lower() if isinstance(t.value, bool) else str(t.value): float(t.count)
        for t in column.top_values
    }
    rest = column.count - column.missing - sum(counts.values())
    if rest > 0:
        counts[OTHER] = counts.get(OTHER, 0.0) + rest
    return counts


def _aligned(
    ref: dict[str, float], cur: dict[str, float], top: int
) -> tuple[list[float], list[float]]:
    """Both histograms over the reference's ``top`` categories plus one pooled "other"."""
    keep = [k for k, _ in sorted(ref.items(), key=lambda kv: (-kv[1], kv[0])) if k != OTHER][:top]
    kept = set(keep)
    ref_hist = [ref[k] for k in keep] + [sum(v for k, v in ref.items() if k not in kept)]
    cur_hist = [cur.get(k, 0.0) for k in keep] + [sum(v for k, v in cur.items() if k not in kept)]
    return ref_hist, cur_hist


def _cdf_points(column: ColumnProfile) -> tuple[Floats, Floats]:
    qs = sorted((float(q), v) for q, v in column.quantiles.items())
    xs = [
        float(column.min) if isinstance(column.min, int | float) else qs[0][1],
        *(v for _, v in qs),
    ]
    ps = [0.0, *(q for q, _ in qs)]
    if isinstance(column.max, int | float):
        xs.append(float(column.max))
        ps.append(1.0)
    return np.asarray(xs, np.float64), np.asarray(ps, np.float64)


def _profile_numeric(ref: ColumnProfile, cur: ColumnProfile) -> tuple[float, float]:
    ref_x, ref_p = _cdf_points(ref)
    cur_x, cur_p = _cdf_points(cur)
    edges = np.unique(np.interp(np.arange(1, 10) / 10, ref_p, ref_x))
    ref_cdf = np.concatenate([[0.0], np.interp(edges, ref_x, ref_p), [1.0]])
    cur_cdf = np.concatenate([[0.0], np.interp(edges, cur_x, cur_p), [1.0]])
    value = psi(np.diff(ref_cdf), np.diff(cur_cdf))
    grid = np.union1d(ref_x, cur_x)
    ks = float(np.max(np.abs(np.interp(grid, ref_x, ref_p) - np.interp(grid, cur_x, cur_p))))
    return value, ks
