"""Code snapshots: deterministic bytes, what is left out, the size cap and the module list."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from corridor.compute import snapshot as snapshot_module
from corridor.compute.snapshot import build_snapshot, modules_of
from corridor.compute.snapshot_uploads import list_modules
from corridor.errors import InvalidInput


def _tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


PROJECT = {
    "pkg/__init__.py": "",
    "pkg/tasks.py": "def f(x):\n    return x\n",
    "scripts/train.py": "print('hi')\n",
    "src/lib/__init__.py": "",
    "src/lib/core.py": "",
    "README.md": "readme",
    "run.sh": "#!/bin/sh\necho hi\n",
}


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_identical_trees_give_identical_bytes_whatever_their_times_and_order(
    tmp_path: Path,
) -> None:
    first = _tree(tmp_path / "a", PROJECT)
    second = _tree(tmp_path / "b", dict(reversed(list(PROJECT.items()))))
    for path in second.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
    one, two = build_snapshot(first), build_snapshot(second)
    assert one.data == two.data
    assert one.digest == two.digest == hashlib.sha256(one.data).hexdigest()
    assert one.size == len(one.data)
    (first / "pkg" / "tasks.py").write_text("def f(x):\n    return x + 1\n")
    assert build_snapshot(first).digest != one.digest


def test_the_archive_holds_the_files_with_fixed_owner_time_and_modes(tmp_path: Path) -> None:
    root = _tree(tmp_path, PROJECT)
    (root / "run.sh").chmod(0o750)
    built = build_snapshot(root)
    members = _members(built.data)
    assert sorted(members) == sorted(PROJECT)
    assert built.files == tuple(sorted(PROJECT))
    assert members["run.sh"].mode == 0o755
    assert members["README.md"].mode == 0o644
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {
        (0, 0, 0, "", "")
    }
    with tarfile.open(fileobj=io.BytesIO(built.data), mode="r:gz") as tar:
        extracted = tar.extractfile("pkg/tasks.py")
        assert extracted is not None
        assert extracted.read() == b"def f(x):\n    return x\n"


def test_gitignore_caches_venvs_git_and_symlinks_are_left_out(tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "proj",
        {
            **PROJECT,
            ".gitignore": "*.log\ndata/\n!keep.log\n",
            "out.log": "x",
            "keep.log": "kept",
            "data/big.csv": "1,2",
            "sub/.gitignore": "*.tmp\n!important.log\n",
            "sub/a.tmp": "x",
            "sub/b.txt": "y",
            "sub/important.log": "z",
            "other/a.tmp": "kept: the sub rule does not reach here",
            ".git/HEAD": "ref",
            ".venv/lib/x.py": "",
            "env2/pyvenv.cfg": "home = /usr",
            "env2/lib/y.py": "",
            "pkg/__pycache__/tasks.cpython-311.pyc": b"\x00",
            "pkg/stale.pyc": b"\x00",
            ".mypy_cache/x": "",
            ".pytest_cache/x": "",
            ".ruff_cache/x": "",
            "node_modules/m/index.js": "",
            "home/master.key": "secret",
        },
    )
    (root / "link.py").symlink_to(tmp_path / "outside.py")
    (tmp_path / "outside.py").write_text("secret = 1\n")
    built = build_snapshot(root, exclude=[root / "home"])
    assert set(built.files) == {
        *PROJECT,
        ".gitignore",
        "keep.log",
        "sub/.gitignore",
        "sub/b.txt",
        "sub/important.log",
        "other/a.tmp",
    }


def test_past_the_cap_the_error_names_the_total_and_the_largest_entries(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "pkg/tasks.py": "x" * 100,
            "models/weights.bin": b"\x00" * 6000,
            "models/small.bin": b"\x00" * 1000,
            "data.parquet": b"\x00" * 3000,
        },
    )
    with pytest.raises(InvalidInput) as caught:
        build_snapshot(root, max_bytes=5000)
    message = caught.value.message
    assert "would hold 9.9 KiB in 4 files" in message
    assert "more than the limit of 4.9 KiB" in message
    assert "Largest files: models/weights.bin (5.9 KiB), data.parquet (2.9 KiB)" in message
    assert "largest folders: models/ (6.8 KiB), pkg/ (100 B)" in message
    assert ".gitignore" in message


def test_the_module_list_covers_packages_scripts_and_src_layouts(tmp_path: Path) -> None:
    built = build_snapshot(_tree(tmp_path, {**PROJECT, "bad-name/x.py": "", "notes.txt": ""}))
    assert built.modules == (
        "lib",
        "lib.core",
        "pkg",
        "pkg.tasks",
        "scripts.train",
        "src.lib",
        "src.lib.core",
    )
    assert modules_of(["a/b-c.py", "x.py", "__init__.py"]) == ("x",)
    # The server lists the uploaded archive's modules by the same rule, so a function the
    # client named in a `src/` layout is found there too.
    assert tuple(list_modules(io.BytesIO(built.data), expanded_limit=1 << 30)) == built.modules


def test_an_unchanged_tree_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path, PROJECT)
    first = build_snapshot(root)
    calls: list[int] = []
    original = snapshot_module._archive

    def counting(entries: object) -> bytes:
        calls.append(1)
        return original(entries)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot_module, "_archive", counting)
    assert build_snapshot(root) is first
    assert calls == []
    (root / "README.md").write_text("changed, and longer than before")
    assert build_snapshot(root).digest != first.digest
    assert calls == [1]


def test_a_missing_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="is not a folder"):
        build_snapshot(tmp_path / "nope")
