"""A tiny signed torch MLP package (8 -> 16 -> 3), built once per module without training."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from corridor.registry.manifest import MANIFEST_FILE_NAME, ManifestFields, Signature
from corridor.serving.replicas.base import ReplicaKind, ReplicaSpec
from tests.registry.signing import sign_folder

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]

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


@pytest.fixture(scope="package")
def mlp_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReplicaSpec, list[bytes]]:
    """An in-process replica spec of the signed package, and the key that verifies it."""
    import torch

    from corridor.training.packages.torch_package import build_package

    root = tmp_path_factory.mktemp("mlp-code")
    (root / "replica_test_mlp.py").write_text(FACTORY_SOURCE)
    folder = tmp_path_factory.mktemp("mlp-package")
    torch.manual_seed(0)
    weights = {
        "0.weight": torch.randn(HIDDEN, FEATURES),
        "0.bias": torch.randn(HIDDEN),
        "2.weight": torch.randn(CLASSES, HIDDEN),
        "2.bias": torch.randn(CLASSES),
    }
    package = build_package(
        folder, weights, factory="replica_test_mlp:make_model", kwargs={}, root=root
    )
    fields = ManifestFields(
        flavour="torch",
        entry=package.entry,
        signature=Signature.model_validate(SIGNATURE),
        requirements=tuple(package.requirements),
    )
    _, keys = sign_folder(folder, fields)
    spec = ReplicaSpec(
        version_key="mlp/1",
        package_path=Path(folder),
        manifest_json=(folder / MANIFEST_FILE_NAME).read_bytes(),
    )
    return spec, keys


def spec_of(spec: ReplicaSpec, kind: ReplicaKind) -> ReplicaSpec:
    return replace(spec, kind=kind)


@pytest.fixture(scope="module")
def run() -> Iterator[Run[Any]]:
    """Run coroutines on one event loop that lives in its own thread for the whole module, as
    a server's loop does (replicas and their tasks outlive a single test)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="replica-tests-loop", daemon=True)
    thread.start()

    def run_on_loop(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=120)

    try:
        yield run_on_loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
