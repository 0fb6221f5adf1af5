"""A failed ingest, clean or re-ingest leaves nothing half-written: no version, report or blob."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.config import Settings
from corridor.errors import Conflict, InvalidInput
from tests.conftest import LiveServer, sqlite_only
from tests.data.conftest import Counts

ORDERS = pl.DataFrame({"id": [1, 2, 3], "customer": [10, 11, 12], "city": ["a", None, "c"]})
CUSTOMERS = pl.DataFrame({"customer": [10, 11, 12]})
FK_SUITE = {
    "name": "fk",
    "expectations": [{"kind": "foreign_key", "columns": ["customer"], "reference": "customers"}],
}
NOT_NULL_CITY = {"name": "city", "expectations": [{"kind": "not_null", "column": "city"}]}
MISSING_COLUMN = {"expectations": [{"kind": "not_null", "column": "nope"}]}
RECIPE = """
name: tidy
steps:
  - {kind: coerce, columns: {amount: float64}}
"""


def test_ingest_into_a_dataset_gated_on_foreign_keys_is_refused_and_stores_nothing(
    data: DataClient, state: Callable[[], Counts]
) -> None:
    data.ingest(CUSTOMERS, "customers", project="p")
    data.ingest(ORDERS, "orders", project="p")
    gated = data.validate("p/orders@1", FK_SUITE, gate=True, frames={"customers": "customers@1"})
    assert gated.report.passed
    before = state()
    with pytest.raises(InvalidInput, match="customers"):
        data.ingest(ORDERS.with_columns(pl.col("id") + 10), "orders", project="p")
    assert state() == before
    assert [v.version for v in data.dataset("orders", project="p").versions] == [1]


def test_an_expectation_suite_with_foreign_keys_is_refused_before_anything_is_stored(
    data: DataClient, state: Callable[[], Counts]
) -> None:
    before = state()
    with pytest.raises(InvalidInput, match="foreign keys"):
        data.ingest(ORDERS, "orders", project="p", expect=FK_SUITE, gate=True)
    assert state() == before


def test_the_gate_is_the_datasets_not_only_the_latest_versions(data: DataClient) -> None:
    data.ingest(ORDERS, "orders", project="p")
    data.ingest(ORDERS.with_columns(pl.col("id") + 10), "orders", project="p")
    data.validate("p/orders@1", NOT_NULL_CITY, gate=True)  # an earlier version carries the gate
    out = data.ingest(ORDERS.with_columns(pl.col("id") + 20), "orders", project="p")
    assert out.version.gated
    assert out.validation is not None
    assert not out.validation.passed
    with pytest.raises(Conflict, match="gated"):
        data.get("p/orders@3")


@sqlite_only
def test_over_http_a_suite_that_cannot_run_creates_nothing(
    live_server: LiveServer, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "client-home")
    with Client(live_server.url, token=live_server.token, settings=settings) as c:
        c.create_project("p")
        data = DataClient(c)
        with pytest.raises(InvalidInput, match="nope"):
            data.ingest(ORDERS, "orders", project="p", expect=MISSING_COLUMN, gate=True)
        assert data.list("p") == []
        with pytest.raises(InvalidInput, match="foreign keys"):
            data.ingest(ORDERS, "orders", project="p", expect=FK_SUITE)
        assert data.list("p") == []
        # A suite that runs and fails gates the version in the same call: it is never readable.
        out = data.ingest(ORDERS, "orders", project="p", expect=NOT_NULL_CITY, gate=True)
        assert (out.version.gated, out.version.gate_passed) == (True, False)
        assert out.validation is not None
        assert not out.validation.passed
        detail = data.dataset("orders", project="p")
        assert [v.version for v in detail.versions] == [1]
        with pytest.raises(Conflict, match="gated"):
            data.get("p/orders@1")
        # The next upload inherits the gate and is validated on arrival.
        fixed = data.ingest(
            ORDERS.with_columns(pl.col("city").fill_null("b")), "orders", project="p"
        )
        assert (fixed.version.gated, fixed.version.gate_passed) == (True, True)


def test_clean_stores_the_output_and_its_quarantine_together_or_neither(
    data: DataClient, state: Callable[[], Counts]
) -> None:
    orders = pl.DataFrame({"id": [1, 2], "amount": ["1.5", "oops"]})
    data.ingest(orders, "orders", project="p")
    # The quarantine dataset is gated on a column its rows lack, so storing them fails.
    data.ingest(pl.DataFrame({"zzz": [1]}), "out.quarantine", project="p")
    data.validate(
        "p/out.quarantine@1", {"expectations": [{"kind": "not_null", "column": "zzz"}]}, gate=True
    )
    before = state()
    with pytest.raises(InvalidInput, match="zzz"):
        data.clean("p/orders@1", RECIPE, output="out")
    assert state() == before
    assert sorted(d.name for d in data.list("p")) == ["orders", "out.quarantine"]


def test_reingesting_the_same_bytes_with_other_metadata_is_a_conflict(
    data: DataClient, state: Callable[[], Counts]
) -> None:
    first = data.ingest(ORDERS, "orders", project="p", tags={"team": "a"})
    assert first.version.sensitivity == "internal"
    before = state()
    with pytest.raises(Conflict, match=r"p/orders@1 .*sensitivity internal, not restricted"):
        data.ingest(ORDERS, "orders", project="p", sensitivity="restricted")
    with pytest.raises(Conflict, match=r"tags \{'team': 'a'\}, not \{'team': 'b'\}"):
        data.ingest(ORDERS, "orders", project="p", tags={"team": "b"})
    with pytest.raises(Conflict, match="regions"):
        data.ingest(ORDERS, "orders", project="p", regions=["eu"])
    assert state() == before
    same = data.ingest(ORDERS, "orders", project="p", sensitivity="internal", tags={"team": "a"})
    assert not same.created
    assert same.version.id == first.version.id
