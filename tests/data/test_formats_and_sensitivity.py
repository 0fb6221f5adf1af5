from __future__ import annotations

import pytest

from corridor.data.sansio.formats import Compression, Format, compression_from_head, detect_format
from corridor.data.sansio.sensitivity import (
    Sensitivity,
    VersionFacts,
    check_consumption,
    check_regions,
)
from corridor.errors import Conflict, InvalidInput, PermissionDenied


@pytest.mark.parametrize(
    ("name", "head", "expected", "how"),
    [
        ("orders.csv", b"a,b", Format.CSV, "file name"),
        ("orders.csv.gz", b"", Format.CSV, "file name"),
        ("x.TSV", b"", Format.CSV, "file name"),
        ("x.parquet", b"", Format.PARQUET, "file name"),
        ("x.ndjson.zst", b"", Format.JSONL, "file name"),
        ("x.feather", b"", Format.IPC, "file name"),
        ("upload", b"PAR1\x15\x04", Format.PARQUET, "content"),
        ("upload", b"ARROW1\x00\x00", Format.IPC, "content"),
        ("upload", b"\xff\xff\xff\xff\x10\x00", Format.IPC, "content"),
        ("upload", b' \n{"a": 1}', Format.JSONL, "content"),
        ("upload", b"a,b\n", Format.CSV, "content"),
    ],
)
def test_detect_format(name: str, head: bytes, expected: Format, how: str) -> None:
    assert detect_format(None, name, head) == (expected, how)


def test_a_given_format_wins() -> None:
    assert detect_format(Format.JSONL, "x.csv", b"a,b") == (Format.JSONL, "given")


def test_compression_is_told_by_magic_number() -> None:
    assert compression_from_head(b"\x1f\x8b\x08") is Compression.GZIP
    assert compression_from_head(b"\x28\xb5\x2f\xfd") is Compression.ZSTD
    assert compression_from_head(b"BZh9") is Compression.BZ2
    assert compression_from_head(b"a,b") is None


def test_regions_are_checked_and_sorted() -> None:
    assert check_regions(["eu-west-1", "eu-central-1", "eu-west-1"]) == [
        "eu-central-1",
        "eu-west-1",
    ]
    with pytest.raises(InvalidInput, match="region 'EU/West'"):
        check_regions(["EU/West"])


def _facts(**kw: object) -> VersionFacts:
    base: dict[str, object] = {
        "label": "p/d@1",
        "project": "p",
        "sensitivity": Sensitivity.RESTRICTED,
        "masked": False,
        "gated": False,
        "gate_passed": False,
    }
    return VersionFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_restricted_data_reads_only_inside_its_project_until_masked() -> None:
    check_consumption(_facts(), "p")
    with pytest.raises(PermissionDenied, match="policy 'restricted-masked-outside-project'"):
        check_consumption(_facts(), "q")
    check_consumption(_facts(masked=True), "q")
    check_consumption(_facts(sensitivity=Sensitivity.CONFIDENTIAL), "q")


def test_a_gated_version_is_refused_until_it_passes() -> None:
    with pytest.raises(Conflict, match="gated"):
        check_consumption(_facts(gated=True), "p")
    check_consumption(_facts(gated=True, gate_passed=True), "p")
