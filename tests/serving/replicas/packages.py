"""Tiny signed packages for replica tests, built without training or a server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from corridor.registry.manifest import MANIFEST_FILE_NAME, ManifestFields, Signature
from corridor.serving.replicas.base import ReplicaSpec
from tests.registry.signing import sign_folder

FEATURES, HIDDEN, CLASSES = 8, 16, 3
FACTORY_SOURCE = f"""
from torch import nn


def make_model(hidden: int = {HIDDEN}) -> nn.Module:
    return nn.Sequential(nn.Linear({FEATURES}, hidden), nn.ReLU(), nn.Linear(hidden, {CLASSES}))
"""
SIGNATURE = {
    "inputs": {
        "kind": "tensors",
        "tensors": [{"name": "input", "dtype": "float32", "shape": [-1, FEATURES]}],
    },
    "outputs": {
        "kind": "tensors",
        "tensors": [{"name": "logits", "dtype": "float32", "shape": [-1, CLASSES]}],
    },
}


def _spec(version_key: str, folder: Path) -> ReplicaSpec:
    return ReplicaSpec(
        version_key=version_key,
        package_path=folder,
        manifest_json=(folder / MANIFEST_FILE_NAME).read_bytes(),
    )


def build_mlp_package(code: Path, folder: Path) -> tuple[ReplicaSpec, list[bytes]]:
    """A torch MLP (8 -> 16 -> 3) package in ``folder`` (its factory's source in ``code``),
    as an in-process replica spec, and the public key that verifies it."""
    import torch

    from corridor.training.packages.torch_package import build_package

    (code / "replica_test_mlp.py").write_text(FACTORY_SOURCE)
    torch.manual_seed(0)
    weights = {
        "0.weight": torch.randn(HIDDEN, FEATURES),
        "0.bias": torch.randn(HIDDEN),
        "2.weight": torch.randn(CLASSES, HIDDEN),
        "2.bias": torch.randn(CLASSES),
    }
    package = build_package(
        folder, weights, factory="replica_test_mlp:make_model", kwargs={}, root=code
    )
    fields = ManifestFields(
        flavour="torch",
        entry=package.entry,
        signature=Signature.model_validate(SIGNATURE),
        requirements=tuple(package.requirements),
    )
    _, keys = sign_folder(folder, fields)
    return _spec("mlp/1", folder), keys


def build_linear_package(folder: Path) -> tuple[ReplicaSpec, list[bytes]]:
    """A ``corridor.linear`` package (8 -> 3, JSON weights; input ``input`` FP64, output
    ``output``): loading it imports no torch, so a worker process starts quickly."""
    rng = np.random.default_rng(1)
    weights = rng.standard_normal((FEATURES, CLASSES)).round(3).tolist()
    bias = rng.standard_normal(CLASSES).round(3).tolist()
    (folder / "model.json").write_text(json.dumps({"weights": weights, "bias": bias}))
    _, keys = sign_folder(folder, ManifestFields(flavour="corridor.linear", entry="model.json"))
    return _spec("linear/1", folder), keys
