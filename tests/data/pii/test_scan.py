"""Scanning columns for personal data over a sample of rows."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from corridor.data.sansio.pii import recognizers
from corridor.data.sansio.pii.scan import scan
from corridor.errors import InvalidInput


@pytest.fixture
def people() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "full_name": ["Maria Lopez", "James Smith", "Anna Berg", "Priya Shah"],
            "email": ["m@x.io", "j@x.io", None, "p@x.io"],
            "notes": ["call +44 20 7946 0958", "ok", "fine", "paid with 4111111111111111"],
            "tax_ref": ["536-22-5468", "536-22-5469", "536-22-5470", "078-05-1120"],
            "amount": [1, 2, 3, 4],
            "phone": [14155552671, 12125550134, 13105550199, 16175550123],
            "ratio": [0.1, 0.2, 0.3, 0.4],
        }
    )


def test_scan_scores_columns_by_entity(people: pl.DataFrame) -> None:
    report = scan(people)
    assert report.rows_sampled == 4
    assert report.pii_columns() == {
        "full_name": "PERSON",
        "email": "EMAIL",
        "notes": "CREDIT_CARD",  # one valid card number in four rows: decisive on its own
        "tax_ref": "US_SSN",
        "phone": "PHONE",
    }
    columns = {c.column: c for c in report.columns}
    assert "ratio" not in columns  # floats are not scanned
    email = columns["email"].best
    assert email is not None
    assert (email.rows_matched, email.fraction, email.name_hint) == (3, 1.0, True)
    ssn = columns["tax_ref"].best
    assert ssn is not None
    # the published example number fails the issuing rules
    assert (ssn.rows_matched, ssn.fraction, ssn.name_hint) == (3, 0.75, False)
    notes = {f.entity: f for f in columns["notes"].findings}
    assert set(notes) == {"PHONE", "CREDIT_CARD"}
    assert notes["CREDIT_CARD"].fraction == 0.25
    assert columns["amount"].findings == []


def test_column_name_hint_raises_confidence() -> None:
    frame = pl.DataFrame({"ssn": ["536225468"] * 4, "code": ["536225468"] * 4})
    columns = {c.column: c.best for c in scan(frame).columns}
    assert columns["ssn"] is not None
    assert columns["code"] is not None
    assert columns["ssn"].score > columns["code"].score


def test_scan_reads_only_the_sample(people: pl.DataFrame) -> None:
    report = scan(pl.concat([people] * 50), sample_rows=8)
    assert report.rows_sampled == 8
    # Rows 0, 25, 50...: spread over the whole frame, two of them the person without an email.
    assert {c.column: c.values_scanned for c in report.columns}["email"] == 6


def test_validators_run_only_on_prefiltered_candidates(
    people: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    original = recognizers.ck.luhn_valid

    def spy(number: str) -> Any:
        seen.append(number)
        return original(number)

    monkeypatch.setattr(recognizers.ck, "luhn_valid", spy)
    scan(people, columns=["notes", "full_name"])
    assert seen == ["4111111111111111"]


def test_unknown_column_is_refused(people: pl.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="column 'nope' not found"):
        scan(people, columns=["nope"])
