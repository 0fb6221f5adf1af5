"""The blob sweep over what the slices really reference: dataset versions, run artifacts and
model packages, on SQLite and PostgreSQL (blobs on the home's local folder)."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.errors import ConfigurationError
from corridor.runtime import Runtime
from corridor.slices import SLICES, Slice, metadata, reference_sources
from corridor.store.base import utcnow
from corridor.store.blob_sweep import DEFAULT_GRACE_S, sweep
from corridor.store.blobs.layout import object_key
from corridor.store.blobs.local import LocalRawStore
from tests.data.conftest import client, data, data_home  # noqa: F401 (fixtures)
from tests.registry.conftest import make_files

LATER = dt.timedelta(seconds=DEFAULT_GRACE_S + 60)
SHARED_WITH_COPY = b"id,amount\n1,10\n2,20\n"
SHARED_WITH_RUN = b"id,amount\n3,30\n4,40\n"
UNIQUE = b"id,amount\n5,50\n6,60\n"


def _runtime(client: Client) -> Runtime:  # noqa: F811
    runtime: Runtime = client._runtime
    return runtime


def _sweep(client: Client, **kwargs: object) -> list[str]:  # noqa: F811
    runtime = _runtime(client)
    sources = reference_sources()
    return sweep(runtime.db, runtime.blobs, sources=sources, **kwargs).deleted_digests  # type: ignore[arg-type]


def test_a_deleted_versions_own_blob_is_reclaimed_and_shared_ones_survive(
    client: Client,  # noqa: F811
    data: DataClient,  # noqa: F811
    tmp_path: Path,
) -> None:
    v1 = data.ingest(SHARED_WITH_COPY, "orders", project="p").version
    v2 = data.ingest(SHARED_WITH_RUN, "orders", project="p").version
    v3 = data.ingest(UNIQUE, "orders", project="p").version
    copy = data.ingest(SHARED_WITH_COPY, "copy", project="p").version
    assert copy.digest == v1.digest  # same bytes in, same Parquet file out: one blob
    parquet = data.download("p/orders@2", tmp_path / "v2.parquet")
    experiment = client.create_experiment("p", "e")
    run = client.create_run("p", experiment.experiment_id)
    logged = client.upload_artifact(run.info.run_id, "data/v2.parquet", parquet.read_bytes())
    assert logged.digest == v2.digest

    data.delete("p/orders")
    assert _sweep(client) == []  # everything is younger than the grace period
    assert _sweep(client, now=utcnow() + LATER, dry_run=True) == [v3.digest]
    assert _runtime(client).blobs.exists(v3.digest)  # the dry run deleted nothing

    assert _sweep(client, now=utcnow() + LATER) == [v3.digest]
    blobs = _runtime(client).blobs
    assert not blobs.exists(v3.digest)
    assert blobs.exists(v1.digest)
    assert blobs.exists(v2.digest)
    assert data.get("p/copy@1").to_dicts() == [{"id": 1, "amount": 10}, {"id": 2, "amount": 20}]
    got = b"".join(client.iter_artifact(run.info.run_id, "data/v2.parquet"))
    assert got == parquet.read_bytes()
    assert _sweep(client, now=utcnow() + LATER) == []  # nothing more to reclaim


def test_a_version_deleted_while_another_still_holds_its_content_keeps_the_blob(
    client: Client,  # noqa: F811
    data: DataClient,  # noqa: F811
) -> None:
    first = data.ingest(UNIQUE, "a", project="p").version
    data.ingest(UNIQUE, "b", project="p")
    data.delete("p/a@1")
    assert _sweep(client, now=utcnow() + LATER) == []
    assert data.get("p/b@1").height == 2
    data.delete("p/b@1")
    assert _sweep(client, now=utcnow() + LATER) == [first.digest]


def test_reingesting_content_whose_blob_awaits_the_sweep_renews_its_grace_period(
    client: Client,  # noqa: F811
    data: DataClient,  # noqa: F811
) -> None:
    gone = data.ingest(UNIQUE, "a", project="p").version
    data.delete("p/a")
    blobs = _runtime(client).blobs
    assert isinstance(blobs.raw, LocalRawStore)
    long_ago = time.time() - 2 * DEFAULT_GRACE_S
    os.utime(blobs.raw.path(object_key(gone.digest)), (long_ago, long_ago))
    grace_start = utcnow() - dt.timedelta(seconds=DEFAULT_GRACE_S)
    assert blobs.stat(gone.digest).last_used_at < grace_start  # a sweep now would take it

    again = data.ingest(UNIQUE, "b", project="p").version
    assert again.digest == gone.digest
    # Touched before its row was written: a sweep between the two would have kept it too.
    assert blobs.stat(gone.digest).last_used_at > grace_start
    assert _sweep(client) == []
    assert data.get("p/b@1").height == 2


def test_model_packages_and_uploads_survive_the_sweep(
    client: Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = make_files(tmp_path / "model", {"model.json": b'{"weights": [1.0], "bias": 0.0}'})
    version = client.register_model("p/m", folder, flavour="corridor.linear", entry="model.json")
    staged_only = client.upload_file("p", make_files(tmp_path / "x", {"f": b"staged"}) / "f")
    blobs = _runtime(client).blobs
    before = set(blobs.digests())
    assert version.package_digest in before
    assert staged_only.digest in before
    assert _sweep(client, now=utcnow() + LATER) == []
    assert set(blobs.digests()) == before
    client.request("DELETE", "/api/v1/projects/p/models/m")
    # The package stays staged in the project, so it is still usable there and kept.
    assert _sweep(client, now=utcnow() + LATER) == []


# Digest columns that name no blob: a suite's digest identifies a gate suite, not stored bytes;
# a package signature names the package it signs (its files are held by the package's
# versions and uploads, and the bundle is in the row); a pipeline step's code digest hashes its
# source (a cache key's part), not stored bytes.
NOT_BLOBS = {
    ("dataset_versions", "gate_digest"),
    ("dataset_reports", "suite_digest"),
    ("package_signatures", "package_digest"),
    ("pipeline_step_runs", "code_digest"),
}


def test_every_digest_column_is_a_reference_source_or_known_to_name_no_blob() -> None:
    covered = set()
    sources = reference_sources()
    for name, source in sources.items():
        for query in source():
            assert len(query.selected_columns) == 1, (name, query)
            column = next(iter(query.selected_columns))
            covered.add((column.table.name, column.name))
    assert set(sources) == {s.name for s in SLICES if s.blob_references is not None}
    digest_columns = {
        (table.name, column.name)
        for table in metadata().sorted_tables
        for column in table.columns
        if "digest" in column.name
    }
    # A new column of digests must be swept around (a source) or declared harmless here.
    assert digest_columns - NOT_BLOBS == covered


def test_an_unloadable_reference_source_is_a_configuration_error() -> None:
    gone = Slice("gone", blob_references="corridor.data.datasets:no_such_function")
    with pytest.raises(ConfigurationError, match="'gone'"):
        reference_sources([*SLICES, gone])
