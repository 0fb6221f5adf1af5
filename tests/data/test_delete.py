"""Deleting dataset versions and datasets: numbers, latest, dependants, gates, audit, bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.errors import Conflict, InvalidInput, NotFound
from tests.data.conftest import Counts
from tests.registry.conftest import make_files

SUITE = {"name": "ids", "expectations": [{"kind": "not_null", "column": "id"}]}
MODEL = {"model.json": b'{"weights": [1.0], "bias": 0.0}'}


def _frame(*ids: int) -> pl.DataFrame:
    return pl.DataFrame({"id": list(ids), "v": [f"row {i}" for i in ids]})


def _lineage(client: Client, node_id: str, direction: str) -> set[str]:
    params = {"kind": "dataset_version", "id": node_id, "direction": direction}
    reply = client.request("GET", "/api/v1/projects/p/lineage", params=params).json()
    return {n["id"] for n in reply["nodes"]} - {node_id}


def test_a_deleted_version_is_gone_latest_moves_back_and_its_number_is_never_reused(
    data: DataClient,
) -> None:
    for i in (1, 2, 3):
        data.ingest(_frame(i), "orders", project="p")
    out = data.delete("p/orders@3")
    assert (out.versions, out.forced, out.dependants, out.dataset_deleted) == (
        [3],
        False,
        [],
        False,
    )
    assert data.show("p/orders@latest").version == 2
    assert data.show("orders", project="p").version == 2
    with pytest.raises(NotFound, match="no version 3 \\(it was deleted\\)"):
        data.show("p/orders@3")
    with pytest.raises(NotFound):
        data.get("p/orders@3")
    assert [v.version for v in data.dataset("p/orders").versions] == [1, 2]
    assert data.list("p")[0].versions == 2
    # The same bytes again are a new version with a new number, never 3 again.
    assert data.ingest(_frame(3), "orders", project="p").version.ref == "p/orders@4"
    data.delete("p/orders@1")
    assert [v.version for v in data.dataset("p/orders").versions] == [2, 4]
    assert data.get("p/orders@2")["id"].to_list() == [2]


def test_a_deleted_dataset_is_hidden_and_its_name_continues_the_numbers(
    data: DataClient,
) -> None:
    data.ingest(_frame(1), "orders", project="p")
    data.ingest(_frame(2), "orders", project="p")
    data.ingest(_frame(9), "other", project="p")
    out = data.delete("orders", project="p")
    assert (out.versions, out.dataset_deleted) == ([1, 2], True)
    assert [d.name for d in data.list("p")] == ["other"]
    with pytest.raises(NotFound, match="dataset p/orders not found"):
        data.dataset("p/orders")
    with pytest.raises(NotFound):
        data.show("p/orders@latest")  # latest never falls back to a deleted version
    with pytest.raises(NotFound):
        data.delete("p/orders")  # nothing left to delete

    again = data.ingest(_frame(1), "orders", project="p", description="take two")
    assert again.version.ref == "p/orders@3"  # "orders@1" keeps meaning the deleted bytes
    listed = {d.name: d for d in data.list("p")}
    assert (listed["orders"].versions, listed["orders"].description) == (1, "take two")
    # Deleting the last version ends the dataset too.
    assert data.delete("p/orders@3").dataset_deleted
    assert [d.name for d in data.list("p")] == ["other"]


def test_a_version_others_derive_from_is_refused_until_forced_and_lineage_keeps_it(
    client: Client, data: DataClient, state: Callable[[], Counts]
) -> None:
    source = data.ingest(_frame(1, 2), "orders", project="p").version
    derived = data.clean(source.ref, {"steps": []}, output="cleaned").version
    assert derived is not None
    data.ingest(_frame(3), "orders", project="p")
    before = state()
    with pytest.raises(Conflict, match="p/orders@1 cannot be deleted: p/cleaned@1 depend"):
        data.delete("p/orders@1")
    with pytest.raises(Conflict, match="p/orders cannot be deleted: p/cleaned@1 depend"):
        data.delete("p/orders")
    assert state() == before  # refused: nothing deleted
    assert _lineage(client, derived.id, "upstream") == {source.id}

    out = data.delete("p/orders@1", force=True)
    assert (out.forced, out.dependants) == (True, ["p/cleaned@1"])
    kept = data.show("p/cleaned@1")
    assert kept.parent is None  # the row it pointed at is gone...
    assert kept.recipe is not None
    assert kept.recipe["input"] == "p/orders@1"  # ...but its recipe still names it
    assert _lineage(client, derived.id, "upstream") == {source.id}  # and lineage keeps its id
    assert data.get("p/cleaned@1")["id"].to_list() == [1, 2]


def test_versions_derived_within_the_dataset_do_not_block_deleting_it(
    client: Client, data: DataClient
) -> None:
    first = data.ingest(_frame(1, 2), "orders", project="p").version
    second = data.clean(first.ref, {"steps": [{"kind": "filter", "expr": "id >= 2"}]}).version
    assert second is not None
    assert second.ref == "p/orders@2"
    with pytest.raises(Conflict, match="p/orders@2 depend"):
        data.delete("p/orders@1")
    out = data.delete("p/orders")
    assert (out.versions, out.forced) == ([1, 2], False)
    # Nothing outside depended on them, so their lineage went with them.
    assert _lineage(client, first.id, "downstream") == set()


def test_model_versions_and_runs_made_from_a_version_are_dependants(
    client: Client, data: DataClient, tmp_path: Path
) -> None:
    used = data.ingest(_frame(1), "features", project="p").version
    folder = make_files(tmp_path / "model", MODEL)
    client.register_model(
        "p/m", folder, flavour="corridor.linear", entry="model.json", dataset_versions=[used.id]
    )
    run = client.create_run("p", client.create_experiment("p", "e").experiment_id)
    trained = data.ingest(_frame(2), "training", project="p").version
    client.register_model(
        "p/m",
        folder,
        flavour="corridor.linear",
        entry="model.json",
        dataset_versions=[trained.id],
        source_run=run.info.run_id,
    )
    with pytest.raises(Conflict, match="model p/m version 1 depend"):
        data.delete("p/features@1")
    with pytest.raises(Conflict, match=f"run {run.info.run_id} depend"):
        data.delete("p/training")
    assert data.delete("p/features@1", force=True).dependants == ["model p/m version 1"]
    assert data.list("p")[0].name == "training"


def test_deleting_the_version_that_carries_the_gate_is_refused_until_forced(
    data: DataClient,
) -> None:
    data.ingest(_frame(1), "orders", project="p")
    data.ingest(_frame(2), "orders", project="p", expect=SUITE, gate=True)
    with pytest.raises(Conflict, match="the gate of dataset orders"):
        data.delete("p/orders@2")
    data.ingest(_frame(3), "orders", project="p")  # inherits the gate
    assert data.delete("p/orders@3").versions == [3]  # version 2 still carries it
    assert data.delete("p/orders@2", force=True).dependants == [
        "the gate of dataset orders (new versions would no longer be validated)"
    ]
    assert not data.ingest(_frame(4), "orders", project="p").version.gated


@pytest.mark.parametrize(
    ("path", "error", "match"),
    [
        ("orders/versions/latest", InvalidInput, "by its number"),
        ("orders/versions/0", InvalidInput, "start at 1"),
        ("orders/versions/x1", InvalidInput, "neither a positive number"),
        ("orders/versions/7", NotFound, "no version 7"),
        ("nope/versions/1", NotFound, "dataset p/nope not found"),
        ("nope", NotFound, "dataset p/nope not found"),
        ("bad%20name", InvalidInput, "dataset name"),
    ],
)
def test_bad_deletes_are_refused_and_delete_nothing(
    client: Client,
    data: DataClient,
    state: Callable[[], Counts],
    path: str,
    error: type[Exception],
    match: str,
) -> None:
    data.ingest(_frame(1), "orders", project="p")
    before = state()
    with pytest.raises(error, match=match):
        client.request("DELETE", f"/api/v1/projects/p/datasets/{path}")
    assert state() == before


def test_deletes_are_audited_with_what_went(client: Client, data: DataClient) -> None:
    v1 = data.ingest(_frame(1), "orders", project="p").version
    data.ingest(_frame(2), "orders", project="p")
    data.delete("p/orders@1")
    data.delete("p/orders")
    events = [e for e in client.audit_events(limit=1000) if e.action == "data.delete"]
    assert [e.target for e in events] == ["p/orders@1", "p/orders"]
    assert events[0].detail["versions"] == [1]
    assert events[0].detail["digests"] == [v1.digest]
    assert events[0].detail["forced"] is False
    assert events[1].detail["dataset_deleted"] is True
    assert client.verify_audit().ok
