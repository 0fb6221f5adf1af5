"""The torch flavour without a server: the package folder, and loading it from its own code.

The registry round trip (register, download, verify, load) is in test_trainer.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from corridor.errors import InvalidInput
from corridor.registry.manifest import FileEntry, Manifest
from corridor.registry.torch_loader import load_torch
from corridor.training.packages.torch_package import build_package
from corridor.training.torch.data import as_tensors

MODULE = """
import torch


def make(width=3):
    return torch.nn.Linear(4, width)
"""


def _manifest(package: Path) -> Manifest:
    files = {
        p.relative_to(package).as_posix(): FileEntry(
            digest=hashlib.sha256(p.read_bytes()).hexdigest(), size=p.stat().st_size
        )
        for p in package.rglob("*")
        if p.is_file()
    }
    return Manifest(
        flavour="torch", entry="model.safetensors", files=files, created_at=dt.datetime.now(dt.UTC)
    )


def _project(root: Path) -> None:
    (root / "shapes").mkdir()
    (root / "shapes" / "__init__.py").write_text("")
    (root / "shapes" / "linear.py").write_text(MODULE)


def test_a_package_loads_from_its_own_code_and_leaves_the_callers_modules_as_they_were(
    tmp_path: Path,
) -> None:
    root, package = tmp_path / "project", tmp_path / "package"
    root.mkdir()
    package.mkdir()
    _project(root)
    model = torch.nn.Linear(4, 2)
    built = build_package(package, model.state_dict(), factory="shapes.linear:make",
                          kwargs={"width": 2}, root=root)  # fmt: skip
    files = sorted(p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file())
    assert files == [
        "code/shapes/__init__.py", "code/shapes/linear.py", "model.safetensors",
        "torch-model.json",
    ]  # fmt: skip
    assert built.entry == "model.safetensors"
    # The caller has a module of the same name that builds something else entirely.
    impostor = types.ModuleType("shapes")
    sys.modules["shapes"] = impostor
    try:
        predictor = load_torch(package, _manifest(package))
        assert sys.modules["shapes"] is impostor
        assert "shapes.linear" not in sys.modules
        assert str(package / "code") not in sys.path
    finally:
        del sys.modules["shapes"]
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    expected = model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_array_equal(predictor.predict(x), expected)
    np.testing.assert_array_equal(predictor.predict(torch.from_numpy(x)), expected)


def test_weights_that_do_not_fit_the_factory_are_refused(tmp_path: Path) -> None:
    root, package = tmp_path / "project", tmp_path / "package"
    root.mkdir()
    package.mkdir()
    _project(root)
    build_package(package, torch.nn.Linear(4, 5).state_dict(), factory="shapes.linear:make",
                  kwargs={"width": 2}, root=root)  # fmt: skip
    manifest = _manifest(package)
    with pytest.raises(InvalidInput, match=r"weights do not fit shapes\.linear:make"):
        load_torch(package, manifest)


def test_every_kind_of_data_a_factory_may_return_becomes_the_same_two_tensors() -> None:
    x = torch.arange(12.0).reshape(6, 2)
    y = torch.tensor([0, 1, 0, 1, 1, 0])

    class Pairs(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
        def __len__(self) -> int:
            return 6

        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            return x[i], y[i]

    for data in (
        (x, y),
        (x.numpy(), y.numpy()),
        Pairs(),
        [(x[i], y[i]) for i in range(6)],
        ((x[i], y[i]) for i in range(6)),
    ):
        features, labels = as_tensors(data, "f")
        assert torch.equal(features, x)
        assert torch.equal(labels, y)
    with pytest.raises(InvalidInput, match="returned a value of type int"):
        as_tensors(3, "f")
    with pytest.raises(InvalidInput, match="sample 0 is not an"):
        as_tensors([x[0]], "f")
