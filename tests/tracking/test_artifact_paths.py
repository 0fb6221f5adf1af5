"""Artifact paths: relative, normalised names that cannot mean anything else."""

from __future__ import annotations

import pytest

from corridor.errors import InvalidInput
from corridor.tracking.artifact_paths import check_artifact_path, join, parent

GOOD = [
    "model.pkl",
    "model/weights.bin",
    "a/b/c/d.txt",
    "plots/loss curve.png",
    ".hidden",
    "dir.with.dots/file",
    "a..b",
    "..a",
    "a..",
    "x/.config",
    "ünïcödé/文件.txt",
    "a%b",
    "100%",
    "a%2",
    "weird-name_(1)+[2]{3}~!@$&'=,",
    "a" * 255,
]

BAD = [
    ("", "empty"),
    ("..", "'..' segment"),
    ("../etc/passwd", "'..' segment"),
    ("a/../b", "'..' segment"),
    ("a/..", "'..' segment"),
    (".", "'.' segment"),
    ("./a", "'.' segment"),
    ("a/./b", "'.' segment"),
    ("...", "'...' segment"),
    ("a/..../b", "'....' segment"),
    ("/etc/passwd", "absolute"),
    ("/", "absolute"),
    ("//server/share", "absolute"),
    ("a//b", "empty segment"),
    ("a/", "empty segment"),
    ("%2e%2e/etc/passwd", "percent-escape"),
    ("%2E%2E", "percent-escape"),
    ("a/%2e%2e/b", "percent-escape"),
    ("%252e%252e/x", "percent-escape"),
    ("%25252e", "percent-escape"),
    ("a%2fb", "percent-escape"),
    ("%00", "percent-escape"),
    ("file:///etc/passwd", "scheme"),
    ("file://host/x", "scheme"),
    ("s3://bucket/key", "scheme"),
    ("http://evil/x", "scheme"),
    ("C:/Windows/x", "drive letter"),
    ("c:x", "drive letter"),
    ("a\\b", "backslash"),
    ("..\\..\\windows", "backslash"),
    ("a;rm -rf", "';'"),
    ("a?x=1", "'?'"),
    ("a#frag", "'#'"),
    ("a\x00b", "NUL"),
    ("a\nb", "control"),
    ("a\rb", "control"),
    ("a\tb", "control"),
    ("\x1b[31m", "control"),
    ("a\u202eb", "format"),
    ("a\u200bb", "format"),
    ("a\u2028b", "control"),
    (" a", "space"),
    ("a /b", "space"),
    ("a/ ", "space"),
    ("a" * 256, "segment is longer"),
    ("a/" * 600 + "b", "longer than 1024 bytes"),
    ("e\u0301", "normal form"),
]


@pytest.mark.parametrize("path", GOOD)
def test_safe_paths_pass_unchanged(path: str) -> None:
    assert check_artifact_path(path) == path


@pytest.mark.parametrize(("path", "why"), BAD, ids=[repr(p[:20]) for p, _ in BAD])
def test_unsafe_paths_are_refused_saying_why(path: str, why: str) -> None:
    with pytest.raises(InvalidInput, match="refused") as caught:
        check_artifact_path(path)
    assert why in caught.value.message


@pytest.mark.parametrize(("path", "_why"), BAD[1:], ids=[repr(p[:20]) for p, _ in BAD[1:]])
def test_unsafe_directories_are_refused_too(path: str, _why: str) -> None:
    with pytest.raises(InvalidInput):
        check_artifact_path(path, allow_root=True)


def test_root_is_allowed_only_for_listings() -> None:
    assert check_artifact_path("", allow_root=True) == ""
    with pytest.raises(InvalidInput, match="empty"):
        check_artifact_path("")


def test_non_strings_are_refused() -> None:
    with pytest.raises(InvalidInput):
        check_artifact_path(b"a")  # type: ignore[arg-type]


def test_join_and_parent() -> None:
    assert join("", "a") == "a"
    assert join("a/b", "c") == "a/b/c"
    assert parent("a/b/c") == "a/b"
    assert parent("a") == ""


def test_long_messages_are_shortened() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_artifact_path("../" + "x" * 5000)
    assert len(caught.value.message) < 400
