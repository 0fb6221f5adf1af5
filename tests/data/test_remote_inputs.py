"""Sources the server or SDK reads: SQL results and S3 objects, in-process and over HTTP."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import s3fs

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.config import Settings
from corridor.errors import InvalidInput, PermissionDenied
from tests.conftest import LiveServer, sqlite_only


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def source_pg(pg_url: str) -> str:
    """A PostgreSQL database (besides the metadata store) holding a table to query."""
    with psycopg.connect(_plain(pg_url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE sales (id int PRIMARY KEY, region text, amount numeric(10, 2), "
            "at timestamptz)"
        )
        conn.execute(
            "INSERT INTO sales SELECT g, CASE WHEN g > 2500 THEN 'eu' END, g * 1.5, "
            "'2024-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 5000) g"
        )
        conn.execute("CREATE SEQUENCE counter")
    return pg_url


@sqlite_only
def test_a_query_result_streams_in_as_a_version(data: DataClient, source_pg: str) -> None:
    # Rows arrive in batches; 'region' is null in the first batches and text later.
    url = _plain(source_pg).replace("postgresql://postgres@", "postgresql://postgres:s3cret@")
    out = data.ingest(url, "sales", project="p", query="SELECT * FROM sales ORDER BY id")
    v = out.version
    assert v.row_count == 5000
    assert {c.name: c.dtype for c in v.columns}["region"] == "string"
    assert v.source is not None
    assert v.source.kind == "sql"
    assert v.source.query == "SELECT * FROM sales ORDER BY id"
    assert "s3cret" not in v.source.name
    assert "***" in v.source.name
    frame = data.get(v.ref)
    assert frame["region"].null_count() == 2500
    assert frame["id"].to_list()[:3] == [1, 2, 3]


@sqlite_only
def test_queries_run_read_only(data: DataClient, source_pg: str) -> None:
    with pytest.raises(InvalidInput, match="read-only transaction"):
        data.ingest(_plain(source_pg), "x", project="p", query="SELECT nextval('counter')")
    with pytest.raises(InvalidInput, match="failed"):
        data.ingest(_plain(source_pg), "x", project="p", query="DELETE FROM sales RETURNING *")
    with psycopg.connect(_plain(source_pg)) as conn:
        assert conn.execute("SELECT count(*) FROM sales").fetchone() == (5000,)
    with pytest.raises(InvalidInput, match=r"failed: .*nope"):
        data.ingest(_plain(source_pg), "x", project="p", query="SELECT * FROM nope")
    assert data.list("p") == []


@sqlite_only
def test_a_sqlite_query_works_too(data: DataClient, tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "source.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a INTEGER, b TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "x"), (2, None)])
    out = data.ingest(f"sqlite:///{db}", "t", project="p", query="SELECT a, b FROM t")
    assert data.get(out.version.ref).to_dicts() == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]


@pytest.fixture
def s3_objects(s3_admin: s3fs.S3FileSystem, s3_bucket: str) -> str:
    s3_admin.pipe(f"{s3_bucket}/in/orders.csv", b"id,city\n1,Paris\n2,Oslo\n")
    s3_admin.pipe(f"{s3_bucket}/in/orders.csv.gz", gzip.compress(b"id,city\n1,Paris\n2,Oslo\n"))
    return s3_bucket


@pytest.fixture
def s3_client(data_home: Settings, s3_endpoint: str) -> Iterator[DataClient]:
    settings = data_home.model_copy(update={"s3_endpoint_url": s3_endpoint})
    with Client(settings=settings) as c:
        c.create_project("p")
        yield DataClient(c)


@sqlite_only
def test_s3_objects_ingest_in_process(s3_client: DataClient, s3_objects: str) -> None:
    out = s3_client.ingest(f"s3://{s3_objects}/in/orders.csv.gz", "orders", project="p")
    assert out.version.source is not None
    assert (out.version.source.kind, out.version.source.compression) == ("s3", "gzip")
    assert out.version.source.name == f"s3://{s3_objects}/in/orders.csv.gz"
    assert s3_client.get(out.version.ref)["city"].to_list() == ["Paris", "Oslo"]
    with pytest.raises(Exception, match="no such object"):
        s3_client.ingest(f"s3://{s3_objects}/in/missing.csv", "x", project="p")


@sqlite_only
def test_over_http_the_sdk_reads_sources_and_uploads_them(
    live_server: LiveServer, s3_objects: str, s3_endpoint: str, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "client", s3_endpoint_url=s3_endpoint)
    with Client(live_server.url, token=live_server.token, settings=settings) as c:
        c.create_project("p")
        data = DataClient(c)
        seen: list[tuple[str, int, int | None]] = []
        out = data.ingest(
            f"s3://{s3_objects}/in/orders.csv",
            "orders",
            project="p",
            progress=lambda phase, done, total: seen.append((phase, done, total)),
        )
        assert out.version.source is not None
        # The server saw an upload; the client read S3 with its own credentials.
        assert out.version.source.kind == "upload"
        assert out.version.source.name == "orders.csv"
        assert ("uploading", 23, 23) in seen
        # The server itself refuses to read paths, buckets or databases for HTTP callers.
        with pytest.raises(PermissionDenied, match="only for an in-process client"):
            c.request(
                "POST", "/api/v1/projects/p/datasets/x/versions", json={"source": "/etc/passwd"}
            )
        with pytest.raises(PermissionDenied, match="only for an in-process client"):
            c.request(
                "POST",
                "/api/v1/projects/p/datasets/x/versions",
                json={"source": live_server.database_url, "query": "SELECT 1"},
            )
