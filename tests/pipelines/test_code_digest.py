"""The code digest: the step's source and what it reaches in the package, the same in every
process, moved by any edit inside the package and by none outside it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from corridor.pipelines.code_digest import code_digest, reached_modules

FLOW = """
    import math

    import numpy as np

    from corridor.pipelines import step
    from {pkg} import features
    from {pkg}.features import Scaler

    FACTOR = {factor}
    # A set's order changes with the hash seed of each process; its digest must not.
    NAMES = {{"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}}


    def untouched():
        return "not called by the step"


    def _double(x):
        return x * 2  # doubled


    @step
    def clean(rows):
        scaler = Scaler(FACTOR + len(NAMES))
        return [
            features.scale(_double(r)) + scaler.apply(r) + math.floor(np.mean([r])) for r in rows
        ]
"""
FEATURES = """
    def scale(x):
        return x * {scale}


    class Scaler:
        def __init__(self, factor):
            self.factor = factor

        def apply(self, x):
            return x + self.factor{apply_extra}
"""
Digest = Callable[..., str]


@pytest.fixture
def digest_in_fresh_process(tmp_path: Path) -> Digest:
    """Write the package into a new root and compute ``flow.clean``'s digest in a new process."""
    count = 0

    def digest(
        *,
        factor: str = "2",
        scale: str = "3",
        apply_extra: str = "",
        untouched: str = "",
        comment: str = "# doubled",
    ) -> str:
        nonlocal count
        count += 1
        root = tmp_path / f"root{count}"
        package = root / "shop"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        flow = textwrap.dedent(FLOW.format(pkg="shop", factor=factor))
        flow = flow.replace("# doubled", comment).replace(
            '"not called by the step"', f'"not called by the step{untouched}"'
        )
        (package / "flow.py").write_text(flow)
        (package / "features.py").write_text(
            textwrap.dedent(FEATURES.format(scale=scale, apply_extra=apply_extra))
        )
        code = (
            "import sys\n"
            "from pathlib import Path\n"
            "from corridor.pipelines.code_digest import code_digest\n"
            f"sys.path.insert(0, {str(root)!r})\n"
            "from shop import flow\n"
            f"print(code_digest(flow.clean, Path({str(root)!r})))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        return result.stdout.strip()

    return digest


def test_the_digest_is_the_same_in_another_process_and_another_folder(
    digest_in_fresh_process: Digest,
) -> None:
    first = digest_in_fresh_process()
    assert len(first) == 64
    assert {digest_in_fresh_process() for _ in range(4)} == {first}


def test_an_edit_to_what_the_step_reaches_changes_the_digest(
    digest_in_fresh_process: Digest,
) -> None:
    base = digest_in_fresh_process()
    changed = {
        "callee": digest_in_fresh_process(scale="4"),
        "method": digest_in_fresh_process(apply_extra=" + 0"),
        "constant": digest_in_fresh_process(factor="5"),
        "comment": digest_in_fresh_process(comment="# twice"),
    }
    assert base not in changed.values()
    assert len(set(changed.values())) == len(changed)


def test_an_edit_to_code_the_step_does_not_reach_keeps_the_digest(
    digest_in_fresh_process: Digest,
) -> None:
    assert digest_in_fresh_process(untouched="!") == digest_in_fresh_process()


def _write_package(root: Path, name: str, files: dict[str, str]) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    for file, source in files.items():
        (folder / file).write_text(textwrap.dedent(source))


@pytest.fixture
def import_root(tmp_path: Path) -> Iterator[Callable[[Path], None]]:
    added: list[str] = []

    def add(root: Path) -> None:
        sys.path.insert(0, str(root))
        added.append(str(root))

    yield add
    for entry in added:
        sys.path.remove(entry)


def test_a_library_outside_the_package_does_not_count(
    tmp_path: Path, import_root: Callable[[Path], None]
) -> None:
    import importlib

    library_root, project_root = tmp_path / "site", tmp_path / "project"
    lib, pkg = f"lib_{tmp_path.name[-8:]}", f"pkg_{tmp_path.name[-8:]}"
    _write_package(library_root, lib, {"ops.py": "def twice(x):\n    return 2 * x\n"})
    _write_package(
        project_root,
        pkg,
        {"flow.py": f"from {lib}.ops import twice\n\ndef go(x):\n    return twice(x)\n"},
    )
    import_root(library_root)
    import_root(project_root)
    flow = importlib.import_module(f"{pkg}.flow")
    assert reached_modules(flow.go, project_root) == [f"{pkg}.flow"]
    before = code_digest(flow.go, project_root)
    (library_root / lib / "ops.py").write_text("def twice(x):\n    return x + x\n")
    importlib.reload(importlib.import_module(f"{lib}.ops"))
    flow = importlib.reload(flow)
    assert code_digest(flow.go, project_root) == before


def test_cycles_closures_and_steps_are_followed_once(
    tmp_path: Path, import_root: Callable[[Path], None]
) -> None:
    import importlib

    pkg = f"cyc_{tmp_path.name[-8:]}"
    _write_package(
        tmp_path,
        pkg,
        {
            "a.py": f"""
                from {pkg} import b

                def ping(n):
                    return 0 if n == 0 else b.pong(n - 1)
            """,
            "b.py": f"""
                from {pkg} import a
                from corridor.pipelines import step

                def make(offset):
                    def inner(n):
                        return a.ping(n) + offset
                    return inner

                def pong(n):
                    return a.ping(n)

                shifted = make(1)

                @step
                def run(n):
                    return shifted(n)
            """,
        },
    )
    import_root(tmp_path)
    b = importlib.import_module(f"{pkg}.b")
    digest = code_digest(b.run, tmp_path)
    assert digest == code_digest(b.run.fn, tmp_path)
    assert sorted(reached_modules(b.run, tmp_path)) == [f"{pkg}.a", f"{pkg}.b"]


def test_the_digest_is_cached_per_function_object(
    tmp_path: Path, import_root: Callable[[Path], None]
) -> None:
    import importlib

    pkg = f"cache_{tmp_path.name[-8:]}"
    _write_package(tmp_path, pkg, {"flow.py": "def go():\n    return 1\n"})
    import_root(tmp_path)
    flow = importlib.import_module(f"{pkg}.flow")
    first = code_digest(flow.go, tmp_path)
    (tmp_path / pkg / "flow.py").write_text("def go():\n    return 2\n")
    # The loaded function is what runs: its digest stays until the module is loaded again.
    assert code_digest(flow.go, tmp_path) == first
    flow = importlib.reload(flow)
    assert code_digest(flow.go, tmp_path) != first


def test_the_environment_names_the_libraries_the_step_and_its_helpers_import(
    tmp_path: Path, import_root: Callable[[Path], None]
) -> None:
    import importlib
    from importlib import metadata

    from corridor.pipelines.environment import environment_of

    pkg = f"env_{tmp_path.name[-8:]}"
    _write_package(
        tmp_path,
        pkg,
        {
            "helpers.py": "import polars as pl\n\ndef frame(x):\n    return pl.DataFrame(x)\n",
            "flow.py": f"""
                import json

                import numpy as np
                from sklearn.linear_model import LogisticRegression

                from corridor.pipelines import step
                from {pkg} import helpers

                @step(env={{"SEED": "7"}})
                def fit(x):
                    return helpers.frame(json.loads(x)), np.zeros(1), LogisticRegression
            """,
        },
    )
    import_root(tmp_path)
    flow = importlib.import_module(f"{pkg}.flow")
    alone = environment_of(flow.fit, {"SEED": "7"})
    assert alone == {
        "corridor": metadata.version("corridor"),
        "dist:numpy": metadata.version("numpy"),
        "dist:scikit-learn": metadata.version("scikit-learn"),
        "env:SEED": "7",
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }
    assert list(alone) == sorted(alone)
    with_helpers = environment_of(flow.fit, {"SEED": "7"}, root=tmp_path)
    assert with_helpers == {**alone, "dist:polars": metadata.version("polars")}


def test_functions_from_outside_the_package_count_by_their_own_source(tmp_path: Path) -> None:
    import json

    assert code_digest(json.dumps, tmp_path) != code_digest(json.loads, tmp_path)
    assert reached_modules(json.dumps, tmp_path) == ["json"]
