"""Which tar members a snapshot may hold: anything that could land outside the work directory is
refused before a byte is written."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from corridor.compute.snapshot_unpack import UnsafeSnapshot, cached_archive, check_member, prune


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    "info",
    [
        member("src/pkg/mod.py"),
        member("src", tarfile.DIRTYPE),
        member("src/link", tarfile.SYMTYPE, "pkg/mod.py"),
        member("src/pkg/up", tarfile.SYMTYPE, "../other.py"),
        member("copy.py", tarfile.LNKTYPE, "src/pkg/mod.py"),
    ],
)
def test_members_inside_the_snapshot_pass(info: tarfile.TarInfo) -> None:
    check_member(info)


@pytest.mark.parametrize(
    ("info", "why"),
    [
        (member("/etc/cron.d/job"), "absolute path"),
        (member("a/../../b"), "'..'"),
        (member("link", tarfile.SYMTYPE, "/etc/passwd"), "outside the snapshot"),
        (member("a/link", tarfile.SYMTYPE, "../../x"), "outside the snapshot"),
        (member("hard", tarfile.LNKTYPE, "../x"), "outside the snapshot"),
        (member("dev", tarfile.CHRTYPE), "not a file, directory or link"),
        (member("fifo", tarfile.FIFOTYPE), "not a file, directory or link"),
    ],
)
def test_members_that_could_escape_are_refused(info: tarfile.TarInfo, why: str) -> None:
    with pytest.raises(UnsafeSnapshot, match=why):
        check_member(info)


def test_a_digest_that_is_not_sha256_hex_is_refused_before_any_download(tmp_path: Path) -> None:
    def download() -> bytes:
        raise AssertionError("must not download")

    with pytest.raises(UnsafeSnapshot, match="not a sha256 hex digest"):
        cached_archive(tmp_path, "../../etc", download)


def test_the_cache_drops_the_least_recently_used_archives_past_its_size(tmp_path: Path) -> None:
    for age, name in enumerate(["old", "middle", "new"]):
        path = tmp_path / f"{name}.tar.gz"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    keep = tmp_path / "old.tar.gz"  # the one just fetched, whatever its time
    prune(tmp_path, keep=keep, max_bytes=200)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.tar.gz", "old.tar.gz"]
