"""Hostile and careless input to ingest: every refusal is a 422 or 413 with a message that says
what was wrong, nothing is stored, and the server logs no error or traceback.

The same inputs go through the HTTP upload route of a live server, and through path ingest (the
in-process client the CLI uses, and the CLI itself).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.config import Settings
from corridor.data.sansio.formats import Format
from corridor.errors import InvalidInput, PayloadTooLarge
from tests.cli.test_cli import Cli, cli, local  # noqa: F401 (fixtures)
from tests.conftest import LiveServer, serving

Counts = dict[str, int]
INGEST_LIMIT = 2_000_000
DECODED_LIMIT = 16_000_000
BIG_ROWS = 60_000_000  # 480 MB of int64 once decoded, a few hundred KB as Parquet


def _float32_samples() -> bytes:
    """48 KB of audio-like float32 samples: binary, with no newline byte to split it on."""
    samples = (np.sin(np.arange(12_000) / 20) * 0.3).astype("<f4").tobytes()
    return samples.replace(b"\n", b"\x0b")


def _random(n: int, seed: int = 7) -> bytes:
    return np.random.default_rng(seed).bytes(n)


def _constant_table(rows: int) -> pa.Table:
    return pa.table({"x": pa.array(np.full(rows, 7, dtype=np.int64))})


@pytest.fixture(scope="module")
def big_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny files that decode to far more than `DECODED_LIMIT`: a Parquet file of 60M rows
    (a dictionary-encoded constant column), and zstd-compressed Arrow IPC files and streams."""
    folder = tmp_path_factory.mktemp("big")
    chunk = _constant_table(1_000_000)
    parquet = folder / "tiny.parquet"
    with pq.ParquetWriter(parquet, chunk.schema, compression="zstd") as writer:
        for _ in range(BIG_ROWS // chunk.num_rows):
            writer.write_table(chunk)
    rows = _constant_table(4_000_000)  # 32 MB decoded, well under 2 MB compressed
    options = pyarrow.ipc.IpcWriteOptions(compression="zstd")
    ipc_file, ipc_stream = folder / "tiny.arrow", folder / "tiny.arrows"
    with pyarrow.ipc.new_file(str(ipc_file), rows.schema, options=options) as writer:
        writer.write_table(rows)
    with pyarrow.ipc.new_stream(str(ipc_stream), rows.schema, options=options) as writer:
        writer.write_table(rows)
    for path in (parquet, ipc_file, ipc_stream):
        assert path.stat().st_size < INGEST_LIMIT
    return {"tiny.parquet": parquet, "tiny.arrow": ipc_file, "tiny.arrows": ipc_stream}


# name, bytes, upload query parameters, status, message (a regular expression)
REFUSED: list[tuple[str, bytes, dict[str, str], int, str]] = [
    (
        "unterminated.csv",
        b'id,note\n1,"never closed\n2,x\n3,y\n',
        {},
        422,
        r"unterminated\.csv, line 2: a field opened with \" is never closed",
    ),
    (
        "header_quote.csv",
        b'id,"note\n1,x\n2,y\n',
        {},
        422,
        r"header_quote\.csv, line 1: a field opened with \" is never closed",
    ),
    (
        "random.csv",
        _random(4000),
        {"format": "csv"},
        422,
        r"random\.csv is not a text file, so not CSV",
    ),
    (
        "rot13.csv",
        b"a,b\n1,2\n",
        {"encoding": "rot13"},
        422,
        r"encoding 'rot13' is not a character encoding of text files: .*utf-8, .*latin-1",
    ),
    (
        "nonsense.csv",
        b"a,b\n1,2\n",
        {"encoding": "nonsense"},
        422,
        r"encoding 'nonsense' is unknown: .*utf-8",
    ),
    (
        "base64.csv",
        b"a,b\n1,2\n",
        {"encoding": "base64"},
        422,
        r"encoding 'base64' is not a character encoding",
    ),
    (
        "samples.csv",
        _float32_samples(),
        {},
        422,
        r"samples\.csv is not a text file, so not CSV: it holds NUL characters",
    ),
    (
        "photo.csv",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + _random(3000),
        {},
        422,
        r"photo\.csv is not a text file, so not CSV: .*it looks like a PNG image",
    ),
    (
        "program.csv",
        b"\x7fELF\x02\x01\x01\x00" + _random(3000),
        {},
        422,
        r"program\.csv is not a text file, so not CSV: .*it looks like an ELF executable",
    ),
    (
        "garbage.jsonl",
        _random(3000, seed=3),
        {},
        422,
        r"garbage\.jsonl is not a text file, so not JSON lines",
    ),
    (
        "garbage.parquet",
        _random(3000, seed=4),
        {},
        422,
        r"garbage\.parquet is not a readable Parquet file",
    ),
    (
        "framed.parquet",
        b"PAR1" + _random(3000, seed=5) + b"PAR1",
        {},
        422,
        r"framed\.parquet is not a readable Parquet file",
    ),
    (
        "garbage.arrow",
        b"ARROW1\x00\x00" + _random(3000, seed=6),
        {},
        422,
        r"garbage\.arrow is not a readable Arrow IPC file or stream",
    ),
    (
        "garbage.arrows",
        b"\xff\xff\xff\xff" + _random(3000, seed=8),
        {},
        422,
        r"garbage\.arrows is not a readable Arrow IPC file or stream",
    ),
    (
        "bomb.csv.gz",
        gzip.compress(b"a,b\n" + b"1,2\n" * (INGEST_LIMIT // 2), compresslevel=9),
        {},
        413,
        r"bomb\.csv\.gz: its gzip contents expand past the ingest limit .*decompression bomb",
    ),
]
TOO_BIG_TO_DECODE = [
    ("tiny.parquet", r"tiny\.parquet decodes to about 480000000 bytes \(60000000 rows"),
    ("tiny.arrow", r"tiny\.arrow decodes to about 32000000 bytes \(4000000 rows"),
    ("tiny.arrows", r"tiny\.arrows decodes to about 32000000 bytes \(4000000 rows"),
]
LIMIT_NAMED = r".*decoded-size limit of 16000000 bytes \(CORRIDOR_MAX_DECODED_BYTES\)"


# The live server


@pytest.fixture
def server(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A live server (SQLite) with small ingest and decoded-size limits, and project ``p``."""
    monkeypatch.setenv("CORRIDOR_MAX_INGEST_BYTES", str(INGEST_LIMIT))
    monkeypatch.setenv("CORRIDOR_MAX_DECODED_BYTES", str(DECODED_LIMIT))
    with serving(home, f"sqlite:///{home / 'corridor.db'}") as live:
        with live.client() as http:
            assert http.post("/api/v1/projects", json={"name": "p"}).status_code == 201
        yield live


def _stored(server: LiveServer, http: httpx.Client) -> Counts:
    listed = http.get("/api/v1/projects/p/datasets")
    assert listed.status_code == 200
    blobs = server.home / "blobs"
    tmp = server.home / "tmp"
    return {
        "datasets": len(listed.json()),
        "blob_files": sum(1 for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else 0,
        "tmp_files": sum(1 for _ in tmp.rglob("*")) if tmp.exists() else 0,
    }


def _upload(http: httpx.Client, name: str, body: bytes, params: dict[str, str]) -> httpx.Response:
    return http.post(
        "/api/v1/dataset-uploads/p/hostile",
        params={"file_name": name, **params},
        content=body,
        timeout=120,
    )


def _log_since(server: LiveServer, offset: int) -> str:
    return server.log_path.read_bytes()[offset:].decode("utf-8", errors="replace")


def _assert_no_error_logged(text: str) -> None:
    assert "Traceback" not in text, text
    assert "unhandled error" not in text, text
    assert not re.search(r'"level": ?"(error|critical)"', text), text


def test_hostile_uploads_are_refused_with_the_reason_and_store_nothing(
    server: LiveServer, big_inputs: dict[str, Path]
) -> None:
    cases = [*REFUSED]
    for name, pattern in TOO_BIG_TO_DECODE:
        cases.append((name, big_inputs[name].read_bytes(), {}, 413, pattern + LIMIT_NAMED))
    with server.client() as http:
        before = _stored(server, http)
        offset = server.log_path.stat().st_size
        for name, body, params, status, pattern in cases:
            response = _upload(http, name, body, params)
            assert response.status_code == status, (name, response.text)
            error = response.json()["error"]
            assert re.search(pattern, error["message"]), (name, error["message"])
            assert _stored(server, http) == before, name
        _assert_no_error_logged(_log_since(server, offset))
        # Text the project already reads keeps working beside the refusals.
        for name, body in [
            ("utf16.csv", "id,name\n1,Zoë\n2,Ana\n".encode("utf-16")),
            ("latin1.csv", "id,name\n1,Zoë\n2,Müller\n".encode("latin-1")),
            ("tabs.csv", b"id\tname\n1\tx\n"),
        ]:
            response = _upload(http, name, body, {})
            assert response.status_code == 201, (name, response.text)


def test_a_parquet_file_past_the_decoded_limit_is_refused_before_decoding(
    server: LiveServer, big_inputs: dict[str, Path]
) -> None:
    """Refused from the footer alone: decoding 60M rows would take far longer than this
    request and leave a large converted file; the server's workspace is left empty."""
    with server.client() as http:
        response = _upload(http, "tiny.parquet", big_inputs["tiny.parquet"].read_bytes(), {})
        assert response.status_code == 413
        assert "CORRIDOR_MAX_DECODED_BYTES" in response.json()["error"]["message"]
        assert _stored(server, http)["tmp_files"] == 0


_PREFIXES = [b"", b"PAR1", b"ARROW1\x00\x00", b"\xff\xff\xff\xff", b"{", b"a,b\n", b"\x1f\x8b"]


@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    prefix=st.sampled_from(_PREFIXES),
    body=st.binary(max_size=2048),
    fmt=st.sampled_from(["csv", "parquet", "jsonl", "ipc", None]),
)
def test_random_bytes_in_any_declared_format_never_get_a_server_error(
    server: LiveServer, prefix: bytes, body: bytes, fmt: str | None
) -> None:
    params = {"format": fmt} if fmt else {}
    with server.client() as http:
        offset = server.log_path.stat().st_size
        response = _upload(http, "fuzz", prefix + body, params)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.json()["error"]["message"]
        _assert_no_error_logged(_log_since(server, offset))


# Path ingest (the in-process client, as `corridor data ingest` runs it)


@pytest.fixture
def before(state: Callable[[], Counts]) -> Iterator[Counts]:
    counts = state()
    yield counts
    assert state() == counts


@pytest.fixture
def limited(data_home: Settings, client: Client) -> Iterator[DataClient]:
    """An in-process client (project ``p``) whose runtime has the server's small limits."""
    update = {"max_ingest_bytes": INGEST_LIMIT, "max_decoded_bytes": DECODED_LIMIT}
    with Client(settings=data_home.model_copy(update=update)) as limited_client:
        yield DataClient(limited_client)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("name", "body", "params", "status", "pattern"), REFUSED)
def test_hostile_files_given_by_path_are_refused_and_store_nothing(
    limited: DataClient,
    before: Counts,
    tmp_path: Path,
    name: str,
    body: bytes,
    params: dict[str, str],
    status: int,
    pattern: str,
) -> None:
    path = tmp_path / name
    path.write_bytes(body)
    error = PayloadTooLarge if status == 413 else InvalidInput
    read = {k: Format(v) if k == "format" else v for k, v in params.items()}
    with pytest.raises(error, match=pattern):
        limited.ingest(path, "hostile", project="p", **read)


def test_path_ingest_refuses_files_past_the_decoded_limit_before_decoding(
    limited: DataClient, before: Counts, big_inputs: dict[str, Path]
) -> None:
    """On both metadata backends; the check reads only the footer or message headers."""
    for name, pattern in TOO_BIG_TO_DECODE:
        with pytest.raises(PayloadTooLarge, match=pattern + LIMIT_NAMED):
            limited.ingest(big_inputs[name], "big", project="p")


def test_the_cli_refuses_a_binary_file_named_csv_with_exit_code_1(
    local: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    samples = tmp_path / "samples.csv"
    samples.write_bytes(_float32_samples())
    with local.sdk() as client:
        client.create_project("p")
    done = local.run("data", "ingest", str(samples), "samples", "-p", "p")
    assert done.returncode == 1, done.stdout
    assert "samples.csv is not a text file, so not CSV" in done.stderr
    assert "Traceback" not in done.stderr
    with local.sdk() as client:
        assert DataClient(client).list("p") == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_binary_check_leaves_text_in_other_encodings_to_the_decoder(
    data: DataClient, before: Counts, tmp_path: Path
) -> None:
    """A cp1252 file declared as UTF-8 has a few bad bytes, not binary: the message names
    where they are and what to do, instead of calling the file binary."""
    path = tmp_path / "menu.csv"
    path.write_bytes("dish,price\ncafé,2\nnaïve crème,3\n".encode("cp1252"))
    with pytest.raises(InvalidInput, match=r"menu\.csv, line 2, column 4: .*not valid UTF-8"):
        data.ingest(path, "menu", project="p", encoding="utf-8")


def test_sql_values_without_a_polars_type_become_text_instead_of_a_server_error() -> None:
    """UUIDs, addresses, NaN or 40-digit decimals and JSON that is an object in one row and a
    list in another made Polars fail (or panic); they are kept as text, nothing is lost."""
    import ipaddress
    import uuid
    from decimal import Decimal

    from corridor.data.remote_inputs import rows_to_frame

    key = uuid.UUID(int=1)
    frame = rows_to_frame(
        ["id", "addr", "amount", "doc"],
        [
            (key, ipaddress.ip_address("10.0.0.1"), Decimal("NaN"), {"a": 1}),
            (None, None, Decimal("1" * 40), [1, 2]),
        ],
    )
    assert frame.to_dicts() == [
        {"id": str(key), "addr": "10.0.0.1", "amount": "NaN", "doc": '{"a": 1}'},
        {"id": None, "addr": None, "amount": "1" * 40, "doc": "[1, 2]"},
    ]
