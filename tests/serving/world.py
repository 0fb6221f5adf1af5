"""The serving tests' shared world: a real server with a project, people, tiny models and
deployments, built once per test process (the `serving_world` fixture of `tests.serving.conftest`).

    project shop    ed (editor), vic (viewer); the admin owns the home
    project other   mallory (editor): an outsider to shop
    shop/mlp        torch MLP 64 -> 256 -> 256 -> 10 (input "input" FP32 [-1, 64] -> "logits"
                    FP32 [-1, 10]); version 1 (alias production), version 2 (alias candidate),
                    different weights (seeds 1 and 2), no training
    shop/embed      corridor.function: "text" BYTES [-1] -> "embedding" FP32 [-1, 8], unit
                    vectors from a hash of each text (alias production)
    other/mlp       the same MLP as shop/mlp@1, in project other (alias production)
    deployments     mlp   -> shop/mlp@production (version 1), 1 replica, project shop
                    embed -> shop/embed@production, 1 replica, project shop

Tests that change deployments make their own (with a name of their own), never these.
`World.mlp_reference(version)` is the torch module a version was built from, to compare answers.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

import corridor
from corridor.client.client import Client
from tests.conftest import LiveServer, module_server

CODE = Path(__file__).resolve().parent / "world_code"
PROJECT = "shop"
OTHER = "other"
MLP = "shop/mlp"
EMBED = "shop/embed"
OTHER_MLP = "other/mlp"
EMBED_DIM = 8
MAX_BODY_BYTES = 16 * 1024 * 1024
MLP_SIGNATURE: dict[str, Any] = {
    "inputs": {
        "kind": "tensors",
        "tensors": [{"name": "input", "dtype": "float32", "shape": [-1, 64]}],
    },
    "outputs": {
        "kind": "tensors",
        "tensors": [{"name": "logits", "dtype": "float32", "shape": [-1, 10]}],
    },
}
EMBED_SIGNATURE: dict[str, Any] = {
    "inputs": {"kind": "tensors", "tensors": [{"name": "text", "dtype": "str", "shape": [-1]}]},
    "outputs": {
        "kind": "tensors",
        "tensors": [{"name": "embedding", "dtype": "float32", "shape": [-1, EMBED_DIM]}],
    },
}


def make_mlp() -> torch.nn.Module:
    import sys

    sys.path.insert(0, str(CODE))
    try:
        from serving_world_mlp import make_model  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(CODE))
    module: torch.nn.Module = make_model()
    return module


@dataclass
class World:
    server: LiveServer
    editor_token: str
    viewer_token: str
    outsider_token: str
    mlp_weights: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict, repr=False)
    project: str = PROJECT
    other_project: str = OTHER

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def admin_token(self) -> str:
        return self.server.token

    def client(self, token: str | None = None) -> Client:
        """An SDK client as ``token`` (default: the admin); close it (``with``)."""
        return corridor.Client(self.url, token or self.admin_token)

    def http(self, token: str | None = None) -> httpx.Client:
        """A plain HTTP client as ``token`` (default: the admin); close it (``with``)."""
        return self.server.client(token)

    def mlp_reference(self, version: int = 1) -> torch.nn.Module:
        """The module version ``version`` of shop/mlp was built from, in eval mode."""
        module = make_mlp()
        module.load_state_dict(self.mlp_weights[version])
        return module.eval()


def _register_mlp(client: Client, name: str, weights: dict[str, torch.Tensor], alias: str) -> int:
    from corridor.training.packages.torch_package import build_package

    with tempfile.TemporaryDirectory(prefix="serving-world-") as folder:
        package = build_package(
            Path(folder), weights, factory="serving_world_mlp:make_model", kwargs={}, root=CODE
        )
        version = client.registry.register_model(
            name,
            package.folder,
            flavour="torch",
            entry=package.entry,
            signature=MLP_SIGNATURE,
            requirements=package.requirements,
        )
    client.registry.set_alias(name, alias, version.version)
    return version.version


def _register_embedder(client: Client) -> bool:
    try:
        from corridor.training.packages.python_function import register_function
    except ImportError:
        return False
    register_function(
        client,
        EMBED,
        "serving_world_embed:embed",
        signature=EMBED_SIGNATURE,
        root=CODE,
        project=PROJECT,
        alias="production",
    )
    return True


def build(server: LiveServer) -> World:
    """Populate ``server``'s fresh home with the world above."""
    with corridor.Client(server.url, server.token) as admin:
        admin.create_project(PROJECT)
        admin.create_project(OTHER)
        tokens = {}
        for user, project, role in (
            ("ed", PROJECT, "editor"),
            ("vic", PROJECT, "viewer"),
            ("mallory", OTHER, "editor"),
        ):
            admin.create_user(user)
            admin.grant_role(project, user, role)
            tokens[user] = admin.create_token(f"{user}-token", user=user).token
        world = World(server, tokens["ed"], tokens["vic"], tokens["mallory"])
        for version, seed in ((1, 1), (2, 2)):
            torch.manual_seed(seed)
            world.mlp_weights[version] = {
                k: v.detach().clone() for k, v in make_mlp().state_dict().items()
            }
        assert _register_mlp(admin, MLP, world.mlp_weights[1], "production") == 1
        assert _register_mlp(admin, MLP, world.mlp_weights[2], "candidate") == 2
        _register_mlp(admin, OTHER_MLP, world.mlp_weights[1], "production")
        embedder = _register_embedder(admin)
        admin.serving.deploy("mlp", f"{MLP}@production", project=PROJECT)
        if embedder:
            admin.serving.deploy("embed", f"{EMBED}@production", project=PROJECT)
    return world


@contextmanager
def running_world(factory: pytest.TempPathFactory) -> Iterator[World]:
    """A server on a fresh home holding the world, until the block ends."""
    with module_server(factory, "serving-world", max_body_bytes=MAX_BODY_BYTES) as server:
        yield build(server)
