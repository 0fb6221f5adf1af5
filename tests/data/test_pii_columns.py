"""One set of PII columns: what the scan lists is exactly what masking requires and what reports
mask."""

from __future__ import annotations

import polars as pl
import pytest

from corridor.client.data import DataClient
from corridor.data.sansio.pii.report_masking import REDACTED
from corridor.data.sansio.pii.scan import scan as pii_scan
from corridor.errors import InvalidInput

ROWS = 300
# Free text where a third of the rows hold an email: too few for the score threshold alone.
NOTES = [f"mail me at u{i}@example.com" if i % 3 == 0 else "fine, thanks" for i in range(ROWS)]
FRAME = pl.DataFrame(
    {
        "id": list(range(ROWS)),
        "notes": NOTES,
        "email": [f"person{i}@example.org" for i in range(ROWS)],
        "city": ["Oslo", "Rome", "Lima"] * (ROWS // 3),
    }
)


def test_the_scan_lists_a_free_text_column_with_emails_in_a_third_of_its_rows() -> None:
    report = pii_scan(FRAME)
    notes = next(c for c in report.columns if c.column == "notes").best
    assert notes is not None
    assert notes.score < 0.5  # the score alone would leave it out
    assert report.pii_columns() == {"notes": "EMAIL", "email": "EMAIL"}


def test_masking_requires_exactly_the_columns_the_scan_lists(data: DataClient) -> None:
    ref = data.ingest(FRAME, "people", project="p").version.ref
    listed = data.pii(ref).pii_columns
    assert listed == {"notes": "EMAIL", "email": "EMAIL"}
    assert data.pii(ref, stored=True).pii_columns == listed
    # Leaving out any one listed column is refused, naming it...
    for left_out in listed:
        rules = [{"column": c, "operator": "redact"} for c in listed if c != left_out]
        with pytest.raises(InvalidInput, match=f"unmasked: {left_out}$|unmasked: {left_out};"):
            data.mask(ref, {"rules": rules}, output=f"m-{left_out}")
    # ...and covering exactly the listed columns is enough: masking asks for nothing more.
    rules = [{"column": c, "operator": "redact"} for c in listed]
    masked = data.mask(ref, {"rules": rules}, output="people-masked")
    assert masked.version.masked
    assert set(data.get(masked.version.ref)["notes"].unique()) == {REDACTED}


def test_reports_mask_exactly_the_columns_the_scan_lists(data: DataClient) -> None:
    ref = data.ingest(FRAME, "people", project="p").version.ref
    profile = data.profile(ref).profile
    listed = set(data.pii(ref).pii_columns)
    masked = {c.name for c in profile.columns if c.top_values == [] and c.distinct}
    assert masked == listed
