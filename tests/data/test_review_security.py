"""Derived versions keep their protection: class floors, kept columns, redacted sources, clocks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import psycopg
import pytest

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.data.remote_inputs import redact_url
from corridor.data.sansio.pii.scan import scan as pii_scan
from corridor.errors import InvalidInput, PermissionDenied
from tests.conftest import sqlite_only

PEOPLE = pl.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "email": [f"user{i}@example.com" for i in range(4)],
        "city": ["Paris", "Oslo", "Rome", "Lyon"],
    }
)
EMAIL_RULE = {"rules": [{"column": "email", "operator": "redact"}]}


@pytest.fixture
def restricted(data: DataClient) -> str:
    return data.ingest(PEOPLE, "people", project="p", sensitivity="restricted").version.ref


def test_copy_and_clean_refuse_to_lower_the_class_and_create_nothing(
    data: DataClient, client: Client, restricted: str, state: Callable[[], dict[str, int]]
) -> None:
    # Copied as public inside its project, the data could then be read unmasked from any other.
    before = state()
    copy_body = {"version": restricted, "meta": {"sensitivity": "public"}}
    with pytest.raises(InvalidInput, match=r"may not be 'public'.*at least 'restricted'"):
        client.request("POST", "/api/v1/projects/p/datasets/copy/versions", json=copy_body)
    with pytest.raises(InvalidInput, match="may not be 'confidential'"):
        data.clean(restricted, {"steps": []}, output="tidy", sensitivity="confidential")
    assert state() == before
    # Equal or higher is fine, and leaving it out inherits the inputs' class.
    same = data.clean(restricted, {"steps": []}, output="tidy", sensitivity="restricted")
    assert same.version is not None
    assert same.version.sensitivity == "restricted"


def test_a_masked_output_may_be_classed_lower(data: DataClient, restricted: str) -> None:
    body = {"plan": EMAIL_RULE, "output": "people-open", "meta": {"sensitivity": "internal"}}
    out = data.client.request(
        "POST", "/api/v1/projects/p/datasets/people/versions/1/mask", json=body
    )
    version = out.json()["version"]
    assert (version["sensitivity"], version["masked"]) == ("internal", True)


def test_keeping_a_flagged_column_does_not_make_the_output_masked(
    data: DataClient, client: Client, restricted: str, state: Callable[[], dict[str, int]]
) -> None:
    kept = data.mask(
        restricted,
        {"rules": [{"column": "city", "operator": "redact"}]},
        output="people-kept",
        keep=["email"],
    )
    assert not kept.version.masked
    assert kept.version.sensitivity == "restricted"
    client.create_project("q")
    with pytest.raises(PermissionDenied, match="restricted-masked-outside-project"):
        data.get(kept.version.ref, for_project="q")
    # Nor may such an output be classed lower than its input.
    before = state()
    body = {
        "plan": {"rules": [{"column": "city", "operator": "redact"}]},
        "keep": ["email"],
        "output": "people-open",
        "meta": {"sensitivity": "public"},
    }
    with pytest.raises(InvalidInput, match="may not be 'public'"):
        client.request("POST", "/api/v1/projects/p/datasets/people/versions/1/mask", json=body)
    assert state() == before


def _notes(rows: int, every: int) -> pl.DataFrame:
    """Free text where one row in ``every`` holds an email, none of them in the first 1,000."""
    return pl.DataFrame(
        {
            "notes": [
                f"please write to user{i}@example.com" if i >= 1000 and i % every == 0 else "ok"
                for i in range(rows)
            ]
        }
    )


def test_a_rare_email_in_free_text_counts_as_personal_data() -> None:
    frame = pl.DataFrame(
        {"notes": [f"mail me at u{i}@example.com" if i % 3 == 0 else "fine" for i in range(300)]}
    )
    report = pii_scan(frame)
    assert report.pii_columns() == {"notes": "EMAIL"}  # 34% of rows, but decisive matches


def test_the_scan_samples_the_whole_frame_not_its_head() -> None:
    report = pii_scan(_notes(5000, 2), sample_rows=1000)
    assert report.rows_sampled == 1000
    assert report.pii_columns() == {"notes": "EMAIL"}


def test_masking_must_cover_personal_data_found_deep_in_a_file(data: DataClient) -> None:
    ref = data.ingest(_notes(3000, 3), "notes", project="p").version.ref
    with pytest.raises(InvalidInput, match="unmasked: notes"):
        data.mask(ref, {"rules": [{"column": "other", "operator": "redact"}]}, output="m")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://reader@db/shop?password=s3cret&sslmode=require",
        "postgresql://reader@db/shop?PassWord=s3cret",
        "mysql://reader@db/shop?pwd=s3cret&pwd=s3cret",
        "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC%7D%3BUID%3Dr%3BPWD%3D%7Bs3cret%3Bx%7D%3BDATABASE%3Dshop",
        "mssql+pyodbc:///?odbc_connect=DRIVER%3DODBC%3Bpassword%3Ds3cret",
    ],
)
def test_redact_url_hides_secret_query_parameters(url: str) -> None:
    shown = redact_url(url)
    assert "s3cret" not in shown
    assert "%2A%2A%2A" in shown  # "***", as a query value is written
    assert "db" in shown or "DATABASE" in shown or "DRIVER" in shown


@sqlite_only
def test_a_password_given_as_a_query_parameter_is_not_stored(data: DataClient, pg_url: str) -> None:
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("CREATE TABLE contacts (id int)")
        conn.execute("INSERT INTO contacts VALUES (1), (2)")
    url = plain + ("&" if "?" in plain else "?") + "password=s3cret"
    out = data.ingest(url, "contacts", project="p", query="SELECT * FROM contacts")
    assert out.version.source is not None
    assert "s3cret" not in out.version.source.name
    assert "password=%2A%2A%2A" in out.version.source.name


STALE = pl.DataFrame({"id": [1, 2], "at": [dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2)]})
FRESH_SUITE = {
    "name": "fresh",
    "expectations": [{"kind": "freshness", "column": "at", "max_age": "24h"}],
}
OLD_NOW = "2020-01-02T12:00:00+00:00"


def test_a_gate_is_judged_by_the_servers_clock_not_the_clients(
    data: DataClient, client: Client
) -> None:
    ref = data.ingest(STALE, "events", project="p").version.ref
    path = "/api/v1/projects/p/datasets/events/versions/1/validate"
    # Setting a gate with a client's clock is refused, and stores nothing.
    with pytest.raises(InvalidInput, match="`now` may not be given"):
        client.request("POST", path, json={"suite": FRESH_SUITE, "gate": True, "now": OLD_NOW})
    assert not data.show(ref).gated
    # Gated by the server's clock, the stale data fails...
    gated = data.validate(ref, FRESH_SUITE, gate=True)
    assert not gated.report.passed
    # ...and an old `now` against the gate suite cannot lift the gate.
    for body in ({"suite": FRESH_SUITE, "now": OLD_NOW}, {"now": OLD_NOW}):
        with pytest.raises(InvalidInput, match="`now` may not be given"):
            client.request("POST", path, json=body)
    version = data.show(ref)
    assert (version.gated, version.gate_passed) == (True, False)
    # An ad-hoc report against another suite may still use its own clock, and lifts nothing.
    other = {**FRESH_SUITE, "name": "as-of"}
    adhoc = client.request("POST", path, json={"suite": other, "now": OLD_NOW}).json()
    assert adhoc["report"]["passed"]
    assert not data.show(ref).gate_passed
