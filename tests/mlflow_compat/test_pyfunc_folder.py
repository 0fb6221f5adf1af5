"""The files the server writes around a package for MLflow clients (pure: no server)."""

from __future__ import annotations

import datetime as dt
import json

import yaml
from mlflow.models.signature import ModelSignature

from corridor.mlflow_compat.pyfunc_folder import (
    PackageFacts,
    loads_through_mlflow,
    mlflow_signature,
    requirements,
    written_files,
)
from corridor.registry.manifest import (
    FileEntry,
    Manifest,
    ManifestFields,
    Signature,
    build_manifest,
)

FACTS = PackageFacts("team/m", 2, "b" * 64, "0.1.0", "3.11.7")


def _manifest(**fields: object) -> Manifest:
    defaults: dict[str, object] = {"flavour": "onnx", "entry": "model.onnx"}
    return build_manifest(
        ManifestFields.model_validate({**defaults, **fields}),
        {"model.onnx": FileEntry(digest="a" * 64, size=3)},
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )


def test_only_flavours_corridor_loads_without_pickle_get_a_folder() -> None:
    for flavour in ("corridor.linear", "onnx", "skops", "torch", "sentence_transformers"):
        assert loads_through_mlflow(flavour)
    for flavour in ("mlflow", "sklearn", "pickle", "pytorch", "python_function", None):
        assert not loads_through_mlflow(flavour)


def test_signatures_become_mlflow_signatures_mlflow_itself_reads() -> None:
    signature = Signature.model_validate(
        {
            "inputs": {
                "kind": "columns",
                "columns": [{"type": "double", "name": "a"}, {"type": "string", "name": "b"}],
            },
            "outputs": {"kind": "tensors", "tensors": [{"dtype": "float32", "shape": [-1, 10]}]},
        }
    )
    converted = mlflow_signature(signature)
    assert converted is not None
    read = ModelSignature.from_dict(converted)
    assert read.inputs.input_names() == ["a", "b"]
    assert read.outputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": (-1, 10)}}
    ]


def test_tensor_dtypes_take_numpys_names() -> None:
    def dtype_of(name: str) -> str:
        signature = Signature.model_validate(
            {"inputs": {"kind": "tensors", "tensors": [{"dtype": name, "shape": [-1]}]}}
        )
        converted = mlflow_signature(signature)
        assert converted is not None
        assert converted["inputs"] is not None
        return str(json.loads(converted["inputs"])[0]["tensor-spec"]["dtype"])

    assert dtype_of("float") == "float64"
    assert dtype_of("float32") == "float32"
    assert dtype_of("str") == "str"
    assert dtype_of("uint8") == "uint8"


def test_a_signature_mlflow_cannot_state_is_left_out() -> None:
    mixed = Signature.model_validate(
        {
            "inputs": {
                "kind": "tensors",
                "tensors": [
                    {"dtype": "float32", "shape": [-1], "name": "a"},
                    {"dtype": "float32", "shape": [-1]},
                ],
            }
        }
    )
    unknown_dtype = Signature.model_validate(
        {"inputs": {"kind": "tensors", "tensors": [{"dtype": "bfloat16", "shape": [-1, 4]}]}}
    )
    import ml_dtypes  # registers bfloat16 with NumPy: MLflow still cannot state it

    assert ml_dtypes.bfloat16 is not None
    assert mlflow_signature(mixed) is None
    assert mlflow_signature(unknown_dtype) is None
    assert mlflow_signature(None) is None


def test_requirements_name_corridor_first_and_keep_the_packages_own_pins() -> None:
    found = requirements(_manifest(requirements=["onnxruntime==1.20.1", "pandas>=2"]), "0.1.0")
    assert found == [
        "corridor==0.1.0",
        "mlflow>=3.17,<4",
        "numpy>=1.26",
        "onnxruntime==1.20.1",
        "pandas>=2",
    ]
    torch = requirements(
        _manifest(flavour="torch", entry=None, requirements=["Torch==2.5"]), "0.1.0"
    )
    assert "torch==2.13.0" not in torch
    assert "Torch==2.5" in torch


def test_the_written_files_are_yaml_and_json_mlflow_reads() -> None:
    files = written_files(_manifest(), FACTS, {"k1": b"PEM\n"})
    mlmodel = yaml.safe_load(files["MLmodel"])
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert pyfunc["artifacts"]["package"]["path"] == "package"
    assert pyfunc["config"] == {"public_key_files": []}
    assert mlmodel["metadata"]["corridor_package_digest"] == "b" * 64
    assert mlmodel["utc_time_created"] == "2026-01-02 03:04:05"
    assert json.loads(files["corridor-public-keys.json"]) == {"k1": "PEM\n"}
    assert yaml.safe_load(files["python_env.yaml"])["dependencies"] == ["-r requirements.txt"]
    code = files["corridor_model.py"].decode()
    compile(code, "corridor_model.py", "exec")
    assert 'PACKAGE_DIGEST = "' + "b" * 64 + '"' in code
    assert "import pickle" not in code
    assert "cloudpickle" not in code
