"""Packages registered through Corridor load through ``mlflow.pyfunc.load_model``, unpickled.

The MLflow client downloads the folder the server writes for the version (models-from-code:
an ``MLmodel``, a script, the package) and loads it with Corridor's own loader.
"""

from __future__ import annotations

import json
import pickletools
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow.exceptions import MlflowException

from corridor.client.client import Client
from tests.mlflow_compat.conftest import Connect, MlflowWorld

X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.25]], dtype=np.float32)
LINEAR_SIGNATURE = {
    "inputs": {"kind": "tensors", "tensors": [{"dtype": "float32", "shape": [-1, 2]}]},
}


def _linear_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "linear"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"weights": [2.0, -1.0], "bias": 0.5}))
    return folder


def _register_linear(world: MlflowWorld, tmp_path: Path, name: str) -> Client:
    corridor = Client(world.url, token=world.tokens["ed"])
    corridor.register_model(
        name,
        _linear_folder(tmp_path),
        project="team",
        flavour="corridor.linear",
        entry="model.json",
        signature=LINEAR_SIGNATURE,
    )
    corridor.set_alias(name, "production", 1, project="team")
    return corridor


def test_a_corridor_linear_version_loads_through_mlflow_by_version_and_alias(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    with _register_linear(world, tmp_path, "team/linear") as corridor:
        expected = corridor.load_model("models:/team/linear@production").predict(X)
    connect(world.url, world.tokens["vic"], workspace="team")
    by_version = mlflow.pyfunc.load_model("models:/linear/1")
    by_alias = mlflow.pyfunc.load_model("models:/linear@production")
    assert list(by_version.predict(X)) == pytest.approx(expected)
    assert list(by_alias.predict(X)) == pytest.approx(expected)
