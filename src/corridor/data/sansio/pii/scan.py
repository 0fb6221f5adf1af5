"""Find which columns of a frame hold personal data, from a sample of rows.

One query over the sample runs every recognizer's prefilter as a vectorised Polars regex and
gathers only the candidate values; the Python validators (checksums, issuing rules) then run on
those candidates alone. A column's score for an entity is the fraction of its sampled values
that hold a validated match, times their mean confidence; a column name that hints at the
entity (``email``, ``phone``, ``ssn``...) raises the confidence.

The sample is spread evenly over the whole frame, not taken from its head, so data that only
starts deep into a file is still seen. A score is not enough: a column where any sampled value
holds a high-confidence match (`DECISIVE`) counts as personal data however rare the match, since
a free-text column with an email in a third of its rows is no less personal for it. One method,
`ScanReport.pii_columns`, decides; the scan's output, the masking check and the masking of
values in reports all use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import polars as pl
from pydantic import BaseModel

from corridor.data.sansio.pii.recognizers import RECOGNIZERS, Recognizer
from corridor.errors import InvalidInput

Engine = Literal["auto", "in-memory", "streaming"]
HINT_BOOST = 0.3
DEFAULT_THRESHOLD = 0.5
"""The score at which a column counts as personal data, unless a scan asks for another."""
"""Added to the mean confidence when the column name hints at the entity."""
DECISIVE = frozenset({"EMAIL", "CREDIT_CARD", "IBAN", "US_SSN"})
"""Entities whose validated matches (checksums, issuing rules) are rarely wrong."""
DECISIVE_SCORE = 0.85
"""A match of a `DECISIVE` entity at least this confident flags its column on its own: an email,
a card number of a known network with a valid Luhn digit, an IBAN with a valid checksum, a
dash-separated SSN."""


class EntityFinding(BaseModel):
    entity: str
    rows_matched: int
    fraction: float
    mean_score: float
    score: float
    name_hint: bool
    max_score: float = 0.0


class ColumnScan(BaseModel):
    column: str
    values_scanned: int
    findings: list[EntityFinding]

    @property
    def best(self) -> EntityFinding | None:
        return max(self.findings, key=lambda f: f.score, default=None)


class ScanReport(BaseModel):
    rows_sampled: int
    columns: list[ColumnScan]

    def pii_columns(self, threshold: float = DEFAULT_THRESHOLD) -> dict[str, str]:
        """The columns that hold personal data, each with its entity: the one set.

        A column counts if its best finding scores at least ``threshold``, or if any sampled
        value holds a decisive match (a column left unmasked that holds even a few emails or
        card numbers makes an output unfit to be called masked). The scan reports this set and
        masking requires it, so what a scan lists is exactly what a masking plan must cover.
        """
        out = {}
        for column in self.columns:
            best = column.best
            if best is not None and best.score >= threshold:
                out[column.column] = best.entity
                continue
            decisive = [
                f for f in column.findings if f.entity in DECISIVE and f.max_score >= DECISIVE_SCORE
            ]
            if decisive:
                out[column.column] = max(decisive, key=lambda f: f.score).entity
        return out


def scan(
    data: pl.LazyFrame | pl.DataFrame,
    *,
    sample_rows: int = 1000,
    columns: Sequence[str] | None = None,
    recognizers: Sequence[Recognizer] = RECOGNIZERS,
    engine: Engine = "auto",
) -> ScanReport:
    """Scan ``sample_rows`` rows, evenly spaced over the frame, of the text and integer columns
    (or ``columns``)."""
    lf = data.lazy()
    schema = lf.collect_schema()
    names = (
        list(columns) if columns is not None else [c for c, t in schema.items() if _scannable(t)]
    )
    for name in names:
        if name not in schema:
            raise InvalidInput(f"column {name!r} not found; the columns are: {', '.join(schema)}")
    aggs: list[pl.Expr] = [pl.len().alias("__rows")]
    for i, name in enumerate(names):
        text = pl.col(name).cast(pl.String)
        aggs.append(text.is_not_null().sum().alias(f"n{i}"))
        for j, recognizer in enumerate(recognizers):
            candidates = text.filter(text.str.contains(recognizer.prefilter))
            aggs.append(candidates.implode().alias(f"c{i}_{j}"))
    total = int(lf.select(pl.len()).collect(engine=engine).item())
    step = max(1, -(-total // sample_rows)) if sample_rows > 0 else 1
    sample = lf.gather_every(step).head(sample_rows)
    row = sample.select(aggs).collect(engine=engine).row(0, named=True)
    report = []
    for i, name in enumerate(names):
        scanned = int(row[f"n{i}"])
        findings = []
        for j, recognizer in enumerate(recognizers):
            finding = _judge(name, recognizer, row[f"c{i}_{j}"], scanned)
            if finding is not None:
                findings.append(finding)
        findings.sort(key=lambda f: -f.score)
        report.append(ColumnScan(column=name, values_scanned=scanned, findings=findings))
    return ScanReport(rows_sampled=int(row["__rows"]), columns=report)


def _scannable(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.String | pl.Categorical | pl.Enum) or dtype.is_integer()


def _judge(
    column: str, recognizer: Recognizer, candidates: list[str], scanned: int
) -> EntityFinding | None:
    scores = []
    for value in candidates:
        matches = [m for m in recognizer.find(value) if m.entity == recognizer.entity]
        if matches:
            scores.append(max(m.score for m in matches))
    if not scores:
        return None
    hinted = _hinted(column, recognizer.column_hints)
    mean = sum(scores) / len(scores)
    confidence = min(1.0, mean + HINT_BOOST) if hinted else mean
    fraction = len(scores) / scanned if scanned else 0.0
    return EntityFinding(
        entity=recognizer.entity,
        rows_matched=len(scores),
        fraction=fraction,
        mean_score=mean,
        score=fraction * confidence,
        name_hint=hinted,
        max_score=max(scores),
    )


def _hinted(column: str, hints: Sequence[str]) -> bool:
    name = column.lower().replace(" ", "_").replace("-", "_")
    parts = set(name.split("_"))
    return any(h in parts or (len(h) > 3 and h in name) for h in hints)
