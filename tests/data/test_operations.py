"""Validation and gates, cleaning with lineage and quarantine, profiles, diffs, PII and masking."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.errors import Conflict, InvalidInput, NotFound, PermissionDenied

ORDERS = pl.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6],
        "email": [f"user{i}@example.com" for i in range(6)],
        "amount": ["10.5", "20", "oops", "40", "50", "-3"],
        "city": ["Paris", "paris ", "Oslo", "Oslo", None, "Rome"],
    }
)
SUITE = {
    "name": "orders",
    "expectations": [
        {"kind": "not_null", "column": "city"},
        {"kind": "unique", "column": "id"},
    ],
}
RECIPE = """
name: tidy
steps:
  - {kind: normalise_text, columns: [city], case: lower}
  - {kind: coerce, columns: {amount: float64}}
  - {kind: filter, expr: "amount >= 0"}
"""


@pytest.fixture
def orders(data: DataClient) -> str:
    return data.ingest(ORDERS, "orders", project="p").version.ref


def test_validation_is_stored_and_a_gate_holds_until_the_suite_passes(
    data: DataClient, orders: str
) -> None:
    checked = data.validate(orders, SUITE, gate=True)
    assert not checked.report.passed
    assert [r.name for r in checked.report.failures] == ["not_null(city)"]
    v = checked.version
    assert (v.gated, v.gate_passed) == (True, False)
    assert v.validation is not None
    assert v.validation.failures == ["not_null(city)"]
    with pytest.raises(Conflict, match="gated and has not passed"):
        data.get(orders)
    with pytest.raises(Conflict, match="gated"):
        data.clean(orders, RECIPE)
    # A pass against another suite does not lift the gate.
    assert data.validate(orders, {"expectations": []}).report.passed
    assert not data.show(orders).gate_passed
    # The next version inherits the gate, is validated on arrival, and passes.
    fixed = ORDERS.with_columns(pl.col("city").fill_null("Lyon"))
    out = data.ingest(fixed, "orders", project="p")
    assert out.validation is not None
    assert out.validation.passed
    assert (out.version.gated, out.version.gate_passed) == (True, True)
    assert data.get("p/orders@2").height == 6
    # Validating without a suite uses the gate's.
    again = data.validate("p/orders@2")
    assert again.report.suite == "orders"


def test_ingest_can_gate_on_arrival(data: DataClient) -> None:
    out = data.ingest(ORDERS, "gated", project="p", expect=SUITE, gate=True)
    assert out.validation is not None
    assert not out.validation.passed
    assert out.version.gated
    assert not out.version.gate_passed


def test_a_suite_that_does_not_fit_stores_nothing(data: DataClient) -> None:
    with pytest.raises(InvalidInput, match="nope"):
        data.ingest(
            ORDERS,
            "x",
            project="p",
            expect={"expectations": [{"kind": "not_null", "column": "nope"}]},
        )
    assert data.list("p") == []


def test_clean_writes_a_version_with_lineage_recipe_and_quarantine(
    data: DataClient, orders: str
) -> None:
    dry = data.clean(orders, RECIPE, dry_run=True)
    assert dry.dry_run
    assert dry.version is None
    assert [(s.kind, s.rows_in, s.rows_out, s.rows_quarantined) for s in dry.steps] == [
        ("normalise_text", 6, 6, 0),
        ("coerce", 6, 5, 1),
        ("filter", 5, 4, 0),
    ]
    assert [d.name for d in data.list("p")] == ["orders"]

    out = data.clean(orders, RECIPE)
    assert out.created
    assert out.version is not None
    assert out.quarantine is not None
    v = out.version
    assert (v.ref, v.parent, v.row_count) == ("p/orders@2", "orders@1", 4)
    assert v.recipe is not None
    assert v.recipe["kind"] == "clean"
    assert v.recipe["recipe"]["name"] == "tidy"
    assert v.recipe["input"] == "p/orders@1"
    cleaned = data.get(v.ref)
    assert cleaned["city"].to_list() == ["paris", "paris", "oslo", None]
    assert out.quarantined_rows == 1
    q = data.get(out.quarantine.ref)
    assert q["id"].to_list() == [3]
    assert "'oops' is not a valid float64" in q["_reason"].item()
    assert out.quarantine.ref == "p/orders.quarantine@1"
    assert out.quarantine.parent == "orders@1"
    # Lineage: the registry's walk sees the dataset versions.
    lineage = data.client.request(
        "GET",
        "/api/v1/projects/p/lineage",
        params={"kind": "dataset_version", "id": v.id, "direction": "upstream"},
    ).json()
    assert {n["id"] for n in lineage["nodes"]} >= {v.id, data.show(orders).id}


def test_clean_joins_frames_and_writes_to_another_dataset(data: DataClient, orders: str) -> None:
    cities = pl.DataFrame({"city": ["paris", "oslo"], "country": ["FR", "NO"]})
    data.ingest(cities, "cities", project="p")
    recipe = {
        "steps": [
            {"kind": "normalise_text", "columns": ["city"], "case": "lower"},
            {"kind": "join", "frame": "cities", "on": ["city"], "how": "inner"},
        ]
    }
    out = data.clean(orders, recipe, frames={"cities": "cities@1"}, output="orders-by-country")
    assert out.version is not None
    assert out.version.ref == "p/orders-by-country@1"
    assert sorted(data.get(out.version.ref)["country"].to_list()) == ["FR", "FR", "NO", "NO"]
    assert out.version.recipe is not None
    assert out.version.recipe["frames"] == {"cities": "p/cities@1"}


def test_profile_is_stored_and_diff_compares_versions(data: DataClient, orders: str) -> None:
    with pytest.raises(NotFound, match="no profile"):
        data.profile(orders, stored=True)
    computed = data.profile(orders)
    assert computed.profile.row_count == 6
    assert data.profile(orders, stored=True).profile == computed.profile
    changed = ORDERS.with_columns(pl.col("id") + pl.Series([0, 0, 0, 0, 0, 10])).drop("email")
    data.ingest(changed, "orders", project="p")
    out = data.diff("p/orders@1", "orders@2", keys=["id"])
    assert (out.rows_a, out.rows_b) == (6, 6)
    assert [(c.column, c.change) for c in out.drift.schema_changes] == [("email", "removed")]
    assert out.keyed is not None
    assert (out.keyed.added, out.keyed.removed, out.keyed.changed, out.keyed.unchanged) == (
        1,
        1,
        0,
        5,
    )
    with pytest.raises(InvalidInput, match="key column"):
        data.diff("p/orders@1", "orders@2", keys=["nope"])


def test_pii_scan_is_stored_and_masking_must_cover_flagged_columns(
    data: DataClient, orders: str
) -> None:
    found = data.pii(orders)
    assert found.pii_columns == {"email": "EMAIL"}
    stored = data.client.request("GET", "/api/v1/projects/p/datasets/orders/versions/1/pii")
    assert stored.json()["pii_columns"] == {"email": "EMAIL"}
    with pytest.raises(InvalidInput, match="unmasked: email"):
        data.mask(orders, {"rules": [{"column": "city", "operator": "redact"}]})
    masked = data.mask(
        orders, {"rules": [{"column": "email", "operator": "hash"}]}, output="orders-masked"
    )
    assert masked.version.masked
    assert masked.version.parent == "orders@1"
    emails = data.get(masked.version.ref)["email"].to_list()
    assert all(len(e) == 64 for e in emails)
    assert len(set(emails)) == 6
    # The project's key is stable: masking again gives the same digests (joins still work).
    again = data.mask(
        orders, {"rules": [{"column": "email", "operator": "hash"}]}, output="orders-masked-2"
    )
    assert data.get(again.version.ref)["email"].to_list() == emails


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_restricted_data_needs_masking_before_another_project_reads_it(
    data: DataClient, client: Client, tmp_path: Path
) -> None:
    client.create_project("q")
    client.create_user("bob")
    token = client.create_token("t", user="bob").token
    client.grant_role("p", "bob", "viewer")
    client.grant_role("q", "bob", "editor")
    data.ingest(ORDERS, "people", project="p", sensitivity="restricted")
    with Client(token=token, settings=client.settings) as as_bob:
        bob = DataClient(as_bob)
        assert bob.get("p/people@1").height == 6  # inside its own project
        with pytest.raises(PermissionDenied, match="restricted-masked-outside-project"):
            bob.get("p/people@1", for_project="q")
        with pytest.raises(PermissionDenied, match="restricted-masked-outside-project"):
            bob.clean("p/people@1", {"steps": []}, output="q/people")
        with pytest.raises(PermissionDenied, match="restricted-masked-outside-project"):
            as_bob.request(
                "POST", "/api/v1/projects/q/datasets/copy/versions", json={"version": "p/people@1"}
            )
        # bob may only read p: writing a masked version there is not his to do.
        with pytest.raises(PermissionDenied, match="viewer"):
            bob.mask(
                "p/people@1",
                {"rules": [{"column": "email", "operator": "redact"}]},
                output="people-masked",
            )
    masked = data.mask(
        "p/people@1", {"rules": [{"column": "email", "operator": "redact"}]}, output="people-masked"
    )
    assert masked.version.sensitivity == "restricted"
    assert masked.version.masked
    with Client(token=token, settings=client.settings) as as_bob:
        bob = DataClient(as_bob)
        assert bob.get("p/people-masked@1", for_project="q")["email"][0] == "[REDACTED]"
        out = bob.clean("p/people-masked@1", {"steps": []}, output="q/people")
        assert out.version is not None
        assert out.version.ref == "q/people@1"
        assert out.version.masked
        assert out.version.sensitivity == "restricted"
        # A project bob cannot see stays invisible through references too.
        with pytest.raises(NotFound, match="project 'secret' not found"):
            bob.get("secret/x@1")
