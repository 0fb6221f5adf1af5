"""Ingest through the in-process client: formats, inference report, versions, reading back."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.ipc
import pytest

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.errors import NotFound

ROWS = pl.DataFrame({"id": [1, 2, 3], "city": ["Paris", "Oslo", None], "amount": [1.5, 2.0, 3.25]})


def _csv(tmp_path: Path, text: str, name: str = "orders.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_ingest_reports_what_it_inferred_and_reads_back(
    data: DataClient, tmp_path: Path
) -> None:
    path = _csv(tmp_path, "id;city;amount\n1;Paris;1,5\n2;Oslo;2\n3;;3,25\n")
    out = data.ingest(path, "orders", project="p", dtypes={"amount": "string"})
    assert out.created
    v = out.version
    assert (v.ref, v.version, v.row_count) == ("p/orders@1", 1, 3)
    assert [(c.name, c.dtype) for c in v.columns] == [
        ("id", "int64"),
        ("city", "string"),
        ("amount", "string"),
    ]
    assert v.source is not None
    assert v.source.csv is not None
    assert v.source.kind == "path"
    assert v.source.format == "csv"
    assert v.source.csv.delimiter == ";"
    assert v.source.csv.encoding == "utf-8"
    assert v.source.csv.has_header
    assert set(v.source.csv.inferred) == {"encoding", "delimiter", "quote_char", "has_header"}
    assert (v.sensitivity, v.regions, v.masked, v.gated) == ("internal", [], False, False)
    frame = data.get("orders@latest", project="p")
    assert frame["city"].to_list() == ["Paris", "Oslo", None]


def test_every_format_and_compression_reads_to_the_same_rows(
    data: DataClient, tmp_path: Path
) -> None:
    ROWS.write_csv(tmp_path / "a.csv")
    ROWS.write_parquet(tmp_path / "a.parquet")
    ROWS.write_ndjson(tmp_path / "a.jsonl")
    ROWS.write_ipc(tmp_path / "a.arrow")
    stream = io.BytesIO()
    table = ROWS.to_arrow()
    with pyarrow.ipc.new_stream(stream, table.schema) as writer:
        writer.write_table(table)
    (tmp_path / "a.arrows").write_bytes(stream.getvalue())
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress((tmp_path / "a.csv").read_bytes()))
    with pa.CompressedOutputStream(str(tmp_path / "a.jsonl.zst"), "zstd") as f:
        f.write((tmp_path / "a.jsonl").read_bytes())
    seen = {}
    for name in ("a.csv", "a.parquet", "a.jsonl", "a.arrow", "a.arrows", "a.csv.gz", "a.jsonl.zst"):
        out = data.ingest(tmp_path / name, name.replace(".", "-"), project="p")
        assert out.version.row_count == 3, name
        seen[name] = data.get(out.version.ref)
        assert seen[name].equals(ROWS), name
    gz = data.show("p/a-csv-gz@1").source
    assert gz is not None
    assert (gz.compression, gz.bytes_expanded) == ("gzip", (tmp_path / "a.csv").stat().st_size)


def test_identical_content_returns_the_existing_version(data: DataClient, tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,b\n1,2\n")
    first = data.ingest(path, "d", project="p")
    again = data.ingest(path, "d", project="p")
    assert not again.created
    assert again.version.id == first.version.id
    changed = data.ingest(_csv(tmp_path, "a,b\n1,3\n", "b.csv"), "d", project="p")
    assert changed.created
    assert changed.version.version == 2
    # The same bytes in another dataset are a version of that dataset (sharing the blob).
    other = data.ingest(path, "e", project="p")
    assert other.created
    assert other.version.digest == first.version.digest
    assert [d.name for d in data.list("p")] == ["d", "e"]
    detail = data.dataset("d", project="p")
    assert [v.version for v in detail.versions] == [1, 2]
    assert detail.dataset.latest is not None
    assert detail.dataset.latest.version == 2


def test_versions_carry_tags_sensitivity_and_regions_and_later_ones_inherit(
    data: DataClient, tmp_path: Path
) -> None:
    first = data.ingest(
        _csv(tmp_path, "a\n1\n"),
        "d",
        project="p",
        sensitivity="confidential",
        regions=["eu-west-1"],
        tags={"owner": "ann"},
        description="daily orders",
    ).version
    assert (first.sensitivity, first.regions, first.tags) == (
        "confidential",
        ["eu-west-1"],
        {"owner": "ann"},
    )
    second = data.ingest(_csv(tmp_path, "a\n2\n", "2.csv"), "d", project="p").version
    assert (second.sensitivity, second.regions, second.tags) == ("confidential", ["eu-west-1"], {})
    assert data.dataset("d", project="p").dataset.description == "daily orders"


def test_get_returns_polars_arrow_or_pandas(data: DataClient, tmp_path: Path) -> None:
    ROWS.write_parquet(tmp_path / "x.parquet")
    data.ingest(tmp_path / "x.parquet", "x", project="p")
    assert isinstance(data.get("p/x@1", to="polars"), pl.DataFrame)
    table = data.get("p/x@1", to="arrow")
    assert isinstance(table, pa.Table)
    assert table.num_rows == 3
    frame = data.get("p/x", to="pandas")
    assert list(frame.columns) == ["id", "city", "amount"]
    with pytest.raises(NotFound, match="has no version 9"):
        data.get("p/x@9")


def test_frames_and_bytes_ingest_too(data: DataClient) -> None:
    out = data.ingest(ROWS, "frame", project="p")
    assert data.get(out.version.ref).equals(ROWS)
    raw = data.ingest(b'{"a": 1}\n{"a": 2}\n', "raw", project="p")
    assert raw.version.source is not None
    assert (raw.version.source.kind, raw.version.source.format) == ("upload", "jsonl")
    assert raw.version.source.format_from == "content"


def test_a_version_can_be_copied_across_projects(data: DataClient, tmp_path: Path) -> None:
    data.client.create_project("q")
    data.ingest(ROWS, "src", project="p", regions=["eu-west-1"])
    path = "/api/v1/projects/q/datasets/copied/versions"
    body = json.loads(data.client.request("POST", path, json={"version": "p/src@1"}).text)
    assert body["created"]
    copied = data.show("q/copied@1")
    assert copied.parent == "p/src@1"
    assert copied.regions == ["eu-west-1"]
    assert copied.recipe == {"kind": "copy", "input": "p/src@1"}


def test_nothing_is_left_in_the_workspace(
    data: DataClient, tmp_path: Path, state: Callable[[], dict[str, int]]
) -> None:
    data.ingest(_csv(tmp_path, "a\n1\n"), "d", project="p")
    assert state()["tmp_files"] == 0


def test_concurrent_ingests_into_one_dataset_get_distinct_numbers(
    client: Client, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    paths = [_csv(tmp_path, f"a\n{i}\n", f"{i}.csv") for i in range(4)]

    def ingest(path: Path) -> int:
        # One app, requests from several threads: the route handlers run concurrently.
        return DataClient(client).ingest(path, "busy", project="p").version.version

    with ThreadPoolExecutor(4) as pool:
        numbers = sorted(pool.map(ingest, paths))
    assert numbers == [1, 2, 3, 4]
