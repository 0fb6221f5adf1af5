"""Client-side loading: the JSON linear flavour, and the pickle opt-in. No server."""

from __future__ import annotations

import datetime as dt
import json
import pickle
from pathlib import Path

import pytest

from corridor.errors import InvalidInput
from corridor.registry.flavours import FLAVOURS, is_pickle_based
from corridor.registry.loaders import LinearModel, load
from corridor.registry.manifest import FileEntry, Manifest, ManifestFields, build_manifest
from tests.registry.signing import sign_folder


class Echo:
    def predict(self, inputs: object) -> object:
        return inputs


def _manifest(flavour: str, entry: str | None = None) -> Manifest:
    files = (
        {entry: FileEntry(digest="ab" * 32, size=1)}
        if entry
        else {"x": FileEntry(digest="ab" * 32, size=1)}
    )
    return build_manifest(
        ManifestFields(flavour=flavour, entry=entry), files, dt.datetime.now(dt.UTC)
    )


def test_linear_models_predict_one_or_several_outputs() -> None:
    one = LinearModel.from_json({"weights": [1.0, 2.0], "bias": 1.0})
    assert one.predict([[1, 1], [0, 0]]) == [4.0, 1.0]
    two = LinearModel.from_json({"weights": [[1.0, 0.0], [0.0, 1.0]], "bias": [0.0, 10.0]})
    assert two.predict([[3.0, 4.0]]) == [[3.0, 14.0]]
    with pytest.raises(InvalidInput, match="needs 2 values"):
        one.predict([[1.0]])


@pytest.mark.parametrize(
    "data",
    [
        {"weights": [1.0]},
        {"weights": [], "bias": 0.0},
        {"weights": [[1.0], [1.0, 2.0]], "bias": [0.0]},
        {"weights": [[1.0, 2.0]], "bias": [0.0]},
        {"weights": ["1"], "bias": 0.0},
        {"weights": [float("inf")], "bias": 0.0},
        {"weights": [True], "bias": 0.0},
        {"weights": [1.0], "bias": 0.0, "code": "import os"},
    ],
)
def test_linear_models_refuse_malformed_json(data: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        LinearModel.from_json(data)


def test_pickle_is_loaded_only_where_the_project_allows_it(tmp_path: Path) -> None:
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(Echo()))
    manifest, keys = sign_folder(tmp_path, ManifestFields(flavour="pickle", entry="m.pkl"))
    with pytest.raises(InvalidInput, match="its project does not allow pickle"):
        load(tmp_path, manifest, public_keys=keys)
    assert load(tmp_path, manifest, pickle_allowed=True, public_keys=keys).predict([1]) == [1]
    # Unknown flavours are treated as pickle-based: nothing says they are not.
    assert is_pickle_based("brand-new") is True
    manifest, keys = sign_folder(tmp_path, ManifestFields(flavour="brand-new"))
    with pytest.raises(InvalidInput, match="pickle-based"):
        load(tmp_path, manifest, public_keys=keys)


def test_safe_flavours_load_without_opt_in(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps({"weights": [1.0], "bias": 0.0}))
    fields = ManifestFields(flavour="corridor.linear", entry="m.json")
    manifest, keys = sign_folder(tmp_path, fields)
    assert load(tmp_path, manifest, public_keys=keys).predict([[2.0]]) == [2.0]
    manifest, keys = sign_folder(tmp_path, ManifestFields(flavour="safetensors"))
    assert load(tmp_path, manifest, public_keys=keys).predictor is None
    safe = {name for name, f in FLAVOURS.items() if not f.pickle}
    assert safe >= {"corridor.linear", "onnx", "skops", "torch", "sentence_transformers"}
