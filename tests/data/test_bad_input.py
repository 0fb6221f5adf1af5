"""Bad inputs fail with a message naming the file, line and column, and leave nothing behind."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.config import Settings
from corridor.errors import InvalidInput, NotFound, PayloadTooLarge

Counts = dict[str, int]


@pytest.fixture
def before(state: Callable[[], Counts]) -> Iterator[Counts]:
    """What was stored before the test; the test's bad ingests must leave it unchanged."""
    counts = state()
    yield counts
    assert state() == counts


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


CASES = [
    (
        "ragged.csv",
        b"a,b,c\n1,x,2.5\n2,y,3.5\n3,z,1,9\n",
        {},
        r"ragged\.csv, line 4, column 4: ragged row: 4 fields where the header row has 3",
    ),
    (
        "short.csv",
        b"a,b,c\n1,x,2.5\n2,y\n3,z,1\n",
        {},
        r"short\.csv, line 3, column 3: ragged row: 2 fields where the header row has 3 "
        r"\(no value for 'c'\)",
    ),
    (
        "quoted.csv",
        b'a,b\n1,"two\nlines"\n2,x,3\n',
        {},
        r"quoted\.csv, line 4, column 3: ragged row",
    ),
    (
        "mixed.csv",
        b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(50)) + b"oops,y\n",
        {"infer_schema_rows": 20},
        r"mixed\.csv, line 52, column 1 \('a'\): 'oops' is not int64 .* mixed types",
    ),
    (
        "undecodable.csv",
        b"id,name\n1,ok\n2,caf\xc3\xa9\n3,na\xefve\n",
        {"encoding": "utf-8"},
        r"undecodable\.csv, line 4, column 5: bytes ef are not valid UTF-8",
    ),
    (
        "late.csv",
        b"id,name\n" + b"1,ok\n" * 300_000 + b"2,na\xefve\n",
        {},
        r"late\.csv, line 300002, column 5: bytes ef are not valid UTF-8 \(the encoding "
        r"was inferred",
    ),
    ("empty.csv", b"", {}, r"empty\.csv is empty"),
    ("blank.csv", b" \n\r\n", {}, r"blank\.csv is empty"),
    ("bad.jsonl", b'{"a": 1}\n{"a": \n', {}, r"bad\.jsonl, line 2, column 7: not a JSON object"),
    ("list.jsonl", b'{"a": 1}\n[1, 2]\n', {}, r"list\.jsonl, line 2, column 1: not a JSON object"),
    ("fake.parquet", b"PAR1 but not really", {}, r"fake\.parquet is not a readable Parquet"),
    ("broken.csv.gz", b"\x1f\x8b\x08\x00garbage", {}, r"broken\.csv\.gz is not valid gzip"),
    ("wrong.csv", b"a,b\n1,2\n", {"dtypes": {"c": "int64"}}, r"dtypes names columns .*: c"),
]


@pytest.mark.parametrize(
    ("name", "content", "options", "message"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_file_is_refused_naming_where_and_nothing_is_stored(
    data: DataClient,
    tmp_path: Path,
    before: Counts,
    name: str,
    content: bytes,
    options: dict[str, object],
    message: str,
) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(InvalidInput, match=message):
        data.ingest(path, "d", project="p", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_same_errors_come_back_through_an_upload(data: DataClient, before: Counts) -> None:
    with pytest.raises(InvalidInput, match=r"upload, line 3, column 3: ragged row"):
        data.ingest(b"a,b,c\n1,2,3\n4,5\n", "d", project="p")


@pytest.mark.parametrize("name", ["a/b", "..", "a\\b", "x\x00"])
def test_dataset_names_with_separators_are_refused_before_reading(
    data: DataClient, tmp_path: Path, before: Counts, name: str
) -> None:
    with pytest.raises(InvalidInput, match="dataset name"):
        data.ingest(_write(tmp_path, "a.csv", b"a\n1\n"), name, project="p")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_name_with_a_backslash_is_refused_by_the_server_too(
    client: Client, before: Counts
) -> None:
    with pytest.raises(InvalidInput, match="path separator"):
        client.request("POST", "/api/v1/dataset-uploads/p/a%5Cb", content=b"a\n1\n")


def test_a_missing_file_is_not_found(data: DataClient, before: Counts) -> None:
    with pytest.raises(NotFound, match="no such file"):
        data.ingest("/nonexistent/orders.csv", "d", project="p")


@pytest.fixture
def small_limit(data_home: Settings) -> Iterator[DataClient]:
    settings = data_home.model_copy(update={"max_ingest_bytes": 100_000})
    with Client(settings=settings) as c:
        yield DataClient(c)


def test_inputs_over_the_limit_are_refused(
    small_limit: DataClient, tmp_path: Path, before: Counts
) -> None:
    big = _write(tmp_path, "big.csv", b"a\n" + b"1\n" * 60_000)
    with pytest.raises(
        PayloadTooLarge, match=r"big\.csv is larger than the ingest limit of 100000"
    ):
        small_limit.ingest(big, "d", project="p")
    # Uploads are cut off as the bytes arrive, not after.
    with pytest.raises(PayloadTooLarge, match="larger than the ingest limit"):
        small_limit.ingest(big.read_bytes(), "d", project="p")


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_decompression_bombs_stop_at_the_limit(
    small_limit: DataClient, tmp_path: Path, before: Counts, kind: str
) -> None:
    expanded = b"a\n" + b"0\n" * 5_000_000  # 10 MB that compresses to a few KB
    path = tmp_path / f"bomb.csv.{kind}"
    if kind == "gzip":
        path.write_bytes(gzip.compress(expanded))
    else:
        with pa.CompressedOutputStream(str(path), "zstd") as f:
            f.write(expanded)
    assert path.stat().st_size < 100_000
    with pytest.raises(PayloadTooLarge, match="decompression bomb"):
        small_limit.ingest(path, "d", project="p")
