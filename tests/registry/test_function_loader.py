"""The corridor.function flavour: a Python function packaged with its code, loaded by the
registry's loader from the package's own code folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from corridor.errors import InvalidInput
from corridor.registry.loaders import LoadedModel, load
from corridor.registry.manifest import ManifestFields
from corridor.training.packages.python_function import function_files
from tests.registry.signing import sign_folder

SIGNATURE = {
    "inputs": {"kind": "tensors", "tensors": [{"name": "x", "dtype": "float64", "shape": [-1]}]},
    "outputs": {"kind": "tensors", "tensors": [{"name": "y", "dtype": "float64", "shape": [-1]}]},
}


def _package(tmp_path: Path, source: str, ref: str = "pkg.scoring:score") -> Path:
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "scoring.py").write_text(source)
    folder = tmp_path / "package"
    function_files(ref, signature=SIGNATURE, root=root).write(folder)
    return folder


def _load(folder: Path) -> LoadedModel:
    manifest, keys = sign_folder(
        folder, ManifestFields(flavour="corridor.function", entry="function.json")
    )
    return load(folder, manifest, public_keys=keys)


def test_a_function_package_holds_its_module_and_packages_and_predicts(tmp_path: Path) -> None:
    folder = _package(tmp_path, "def score(inputs):\n    return {'y': inputs['x'] * 3}\n")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == ["code/pkg/__init__.py", "code/pkg/scoring.py", "function.json"]
    config = json.loads((folder / "function.json").read_text())
    assert config == {"function": "pkg.scoring:score", "code_root": "code"}
    loaded = _load(folder)
    out = loaded.predict({"x": [1.0, 2.0]})
    np.testing.assert_array_equal(out["y"], [3.0, 6.0])


def test_a_function_that_returns_no_mapping_is_invalid_input(tmp_path: Path) -> None:
    folder = _package(tmp_path, "def score(inputs):\n    return inputs['x']\n")
    with pytest.raises(InvalidInput, match=r"returned a ndarray, not \{output name: array\}"):
        _load(folder).predict({"x": [1.0]})


def test_a_code_root_outside_the_package_is_refused(tmp_path: Path) -> None:
    folder = _package(tmp_path, "def score(inputs):\n    return inputs\n")
    (folder / "function.json").write_text('{"function": "pkg.scoring:score", "code_root": ".."}')
    with pytest.raises(InvalidInput, match="outside the package"):
        _load(folder)


def test_a_function_the_code_does_not_have_is_refused_naming_it(tmp_path: Path) -> None:
    folder = _package(tmp_path, "def score(inputs):\n    return inputs\n")
    (folder / "function.json").write_text('{"function": "pkg.scoring:nope", "code_root": "code"}')
    with pytest.raises(InvalidInput, match=r"pkg\.scoring:nope"):
        _load(folder)


def test_a_function_package_needs_a_tensor_signature_with_outputs(tmp_path: Path) -> None:
    inputs_only = {"inputs": SIGNATURE["inputs"]}
    with pytest.raises(InvalidInput, match="tensor signature with inputs and outputs"):
        function_files("m:f", signature=inputs_only, root=tmp_path)
