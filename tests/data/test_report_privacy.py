"""No cell value of a dataset rests in plain text in the home or the metadata database.

Every kind of report (validation on arrival and on demand, profile, PII scan) and every other
operation that reads values (diff, clean with quarantine, mask) runs over a confidential version
with distinctive values; then every file under the home (the SQLite file and its WAL included)
and every row of every table (SQLite and PostgreSQL) is searched for those values. Authorised
readers still get the reports through the API, with the values of PII columns masked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select, text

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.config import Settings
from corridor.data.models import DatasetReport
from corridor.data.sansio.pii.report_masking import REDACTED, carries_values, mask_report
from corridor.data.schemas import ReadOptions
from corridor.errors import InvalidInput, NotFound
from corridor.runtime import Runtime
from corridor.security.models import AuditEvent
from corridor.slices import reference_sources
from corridor.store import migrate
from corridor.store.base import utcnow
from corridor.store.blob_sweep import DEFAULT_GRACE_S, sweep
from corridor.store.migrate import upgrade

ROWS = 60
EMAILS = [f"privacy.{i:03d}.qz@vault-example.org" for i in range(ROWS)]
CODES = [f"CODEVAL-{i:03d}-XQ" for i in range(ROWS)]
NOTES = [
    f"write to note.{i:03d}.qz@inbox-example.net today" if i % 3 == 0 else f"NOTEVAL-{i:03d}-ZR"
    for i in range(ROWS)
]
BAD_AMOUNT = "BADAMT-QX9"
NEWEST = dt.datetime(2013, 7, 19, 11, 22, 33)
PEOPLE = pl.DataFrame(
    {
        "id": list(range(ROWS)),
        "email": EMAILS,
        "code": CODES,
        "notes": NOTES,
        "amount": [BAD_AMOUNT if i == 7 else str(i * 10) for i in range(ROWS)],
        "seen_at": [NEWEST - dt.timedelta(days=i) for i in range(ROWS)],
    }
)
SUITE = {
    "name": "people",
    "expectations": [
        {"kind": "between", "column": "id", "max": 10},  # fails: rows 11.. are sampled
        {"kind": "freshness", "column": "seen_at", "max_age": "24h"},  # fails: quotes NEWEST
    ],
}
SECRETS = [*EMAILS, *CODES, *NOTES, BAD_AMOUNT, NEWEST.isoformat(), NEWEST.date().isoformat()]


def _runtime(data: DataClient) -> Runtime:
    client: Client = data.client
    runtime: Runtime = client._runtime
    return runtime


def _every_report_kind(data: DataClient) -> str:
    """Make every kind of report, and run every operation that reads values; return v1's ref."""
    first = data.ingest(PEOPLE, "people", project="p", sensitivity="confidential", expect=SUITE)
    assert first.validation is not None
    assert not first.validation.passed
    ref = first.version.ref
    assert not data.validate(ref, SUITE).report.passed
    data.profile(ref)
    data.pii(ref)
    data.profile(ref)  # again, now that the version has a stored scan
    changed = PEOPLE.with_columns(pl.col("code").str.replace("XQ", "XR"))
    second = data.ingest(changed, "people", project="p", expect=SUITE)
    assert second.validation is not None
    data.diff(ref, second.version.ref, keys=["id"])
    recipe = {"steps": [{"kind": "coerce", "columns": {"amount": "int64"}}]}
    cleaned = data.clean(ref, recipe, output="people-clean")
    assert cleaned.quarantined_rows == 1
    plan = {
        "rules": [
            {"column": "email", "operator": "hash"},
            {"column": "notes", "operator": "redact"},
        ]
    }
    data.mask(ref, plan, output="people-masked")
    return ref


def _leaks(haystack: bytes) -> list[str]:
    return [s for s in SECRETS if s.encode("utf-8") in haystack]


def _leaks_in_home(home: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted(home.rglob("*")):
        if path.is_file():
            leaked = _leaks(path.read_bytes())
            if leaked:
                found[str(path.relative_to(home))] = leaked[:3]
    return found


def _leaks_in_database(runtime: Runtime) -> dict[str, list[str]]:
    """Every row of every table, each column rendered as text (JSON as its text)."""
    found = {}
    with runtime.db.read() as session:
        tables = inspect(session.connection()).get_table_names()
        for table in tables:
            for row in session.execute(text(f'SELECT * FROM "{table}"')):
                leaked = _leaks(repr(tuple(row)).encode("utf-8"))
                leaked += _leaks(json.dumps([str(v) for v in row]).encode("utf-8"))
                if leaked:
                    found.setdefault(table, []).extend(leaked[:3])
    return found


def test_no_cell_value_rests_in_plain_text_in_the_home_or_the_database(
    data: DataClient, data_home: Settings
) -> None:
    _every_report_kind(data)
    runtime = _runtime(data)
    with runtime.db.read() as session:
        kinds = set(session.scalars(select(DatasetReport.kind)))
    assert kinds == {"validation", "profile", "pii"}
    assert _leaks_in_database(runtime) == {}
    assert _leaks_in_home(data_home.home) == {}


def test_authorised_readers_get_the_reports_with_pii_columns_masked(data: DataClient) -> None:
    ref = _every_report_kind(data)

    scan = data.pii(ref, stored=True)
    assert scan.pii_columns == {"email": "EMAIL", "notes": "EMAIL"}

    profile = data.profile(ref, stored=True).profile
    for name in ("email", "notes"):
        column = profile.column(name)
        assert column.top_values == []
        assert {column.min, column.max} <= {None, REDACTED}
        assert column.count == ROWS
        assert column.distinct == ROWS
    code = profile.column("code")
    assert code.top_values  # not personal data: readable
    assert {t.value for t in code.top_values} <= set(CODES)

    report = data.validation(ref).report
    between = next(r for r in report.results if r.kind == "between")
    assert between.failing == ROWS - 11
    assert between.samples
    for row in between.samples:
        assert row["email"] == REDACTED
        assert row["notes"] == REDACTED
        assert row["code"] in CODES
    fresh = next(r for r in report.results if r.kind == "freshness")
    assert str(fresh.observed).startswith(NEWEST.isoformat())  # seen_at: not personal data

    # What validate and profile answer is what they stored: masked the same way.
    answered = data.validate(ref, SUITE).report
    assert all(r["email"] == REDACTED for r in answered.results[0].samples)
    assert data.profile(ref).profile.column("email").top_values == []


def test_an_error_that_quotes_a_cell_value_leaves_no_copy_in_the_audit_log(
    data: DataClient, data_home: Settings
) -> None:
    bad = f"id,amount\n1,10\n2,{BAD_AMOUNT}\n".encode()
    with pytest.raises(InvalidInput, match=BAD_AMOUNT):  # the caller is told which cell
        data.ingest(bad, "orders", project="p", options=ReadOptions(dtypes={"amount": "int64"}))
    runtime = _runtime(data)
    with runtime.db.read() as session:
        statuses = [e.detail.get("status") for e in session.scalars(select(AuditEvent))]
    assert 422 in statuses  # the refusal is audited...
    assert _leaks_in_database(runtime) == {}  # ...without the message that quotes the cell
    assert _leaks_in_home(data_home.home) == {}


def test_a_freshness_timestamp_read_from_a_pii_column_is_masked_with_its_message() -> None:
    observed = NEWEST.isoformat()
    body = {
        "suite": None,
        "passed": False,
        "row_count": 3,
        "results": [
            {
                "name": "fresh",
                "kind": "freshness",
                "columns": ["born_at"],
                "passed": False,
                "observed": observed,
                "message": f"newest is {observed}; must be within 1 day, 0:00:00 of ...",
                "samples": [],
            }
        ],
    }
    assert carries_values("validation", body)
    masked = mask_report("validation", body, {"born_at"})["results"][0]
    assert masked["observed"] == REDACTED
    assert observed not in masked["message"]
    assert body["results"][0]["observed"] == observed  # the input is left as it was
    assert mask_report("validation", body, {"other"}) == body


def test_each_report_is_its_own_salted_blob_so_its_digest_is_no_oracle(data: DataClient) -> None:
    ref = data.ingest(PEOPLE.select("id", "code"), "codes", project="p").version.ref
    first = data.profile(ref).profile
    second = data.profile(ref).profile
    assert first == second
    runtime = _runtime(data)
    with runtime.db.read() as session:
        digests = list(session.scalars(select(DatasetReport.body_digest)))
    assert len(digests) == 2
    assert len(set(digests)) == 2
    # The digest is not that of the body alone: guessing the values cannot reproduce it.
    plain = json.dumps(first.model_dump(mode="json"), separators=(",", ":")).encode()
    assert hashlib.sha256(plain).hexdigest() not in digests
    for digest in digests:
        assert digest is not None
        assert runtime.blobs.exists(digest)


def _migrate_to(runtime: Runtime, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__file__).with_name("migrations")))
    with runtime.db.write_engine.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()


def test_upgrading_discards_plaintext_bodies_and_keeps_their_summaries(
    data_home: Settings,
) -> None:
    with Client(settings=data_home) as client:
        client.create_project("p")
        data = DataClient(client)
        ref = data.ingest(PEOPLE, "people", project="p").version.ref
        data.profile(ref)
        runtime = _runtime(data)
        # A home as it was before bodies were sealed: the body in the row, in plain text.
        _migrate_to(runtime, "0005")
        old_body = {"row_count": ROWS, "columns": [{"name": "email", "top_values": EMAILS}]}
        with runtime.db.write_engine.connect() as conn:
            conn.execute(text("UPDATE dataset_reports SET body = :b"), {"b": json.dumps(old_body)})
            conn.commit()
        assert _leaks_in_database(runtime)
        if runtime.db.is_sqlite:  # into the main file, where freed pages would keep it
            raw = sqlite3.connect(data_home.home / "corridor.db", isolation_level=None)
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            raw.close()
            assert _leaks(Path(data_home.home / "corridor.db").read_bytes())

        upgrade(runtime.db)
        with runtime.db.read() as session:
            report = session.scalars(select(DatasetReport)).one()
            assert (report.summary, report.body_digest) == ({"row_count": ROWS}, None)
        assert _leaks_in_database(runtime) == {}
        with pytest.raises(NotFound, match=r"discarded.*profile it again"):
            data.profile(ref, stored=True)
    # SQLite: the freed pages were zeroed, so the old bodies are not left in the file either.
    assert _leaks_in_home(data_home.home) == {}


def test_the_blob_sweep_keeps_report_bodies_and_reclaims_them_with_their_version(
    data: DataClient,
) -> None:
    ref = data.ingest(PEOPLE.select("id", "code"), "codes", project="p").version.ref
    data.profile(ref)
    runtime = _runtime(data)
    with runtime.db.read() as session:
        body = session.scalars(select(DatasetReport.body_digest)).one()
    assert body is not None
    later = utcnow() + dt.timedelta(seconds=DEFAULT_GRACE_S + 60)
    sources = reference_sources()
    assert body not in sweep(runtime.db, runtime.blobs, sources=sources, now=later).deleted_digests
    data.delete(ref)
    assert body in sweep(runtime.db, runtime.blobs, sources=sources, now=later).deleted_digests
    assert not runtime.blobs.exists(body)
