"""The folder an MLflow client downloads for a Corridor package: what it holds, written. No I/O.

``mlflow.pyfunc.load_model("models:/NAME/3")`` downloads the version's folder and loads it by
its ``MLmodel`` file. For a package whose flavour Corridor loads without pickle (`FLAVOURS`),
the server answers with a folder it writes on the fly, in MLflow's *models-from-code* form, so
that loading runs a short script instead of unpickling a ``python_model.pkl``::

    MLmodel                   python_function flavour, loader mlflow.pyfunc.loaders.code_model
    corridor_model.py         the script: mlflow.models.set_model(...) of a PythonModel whose
                              load_context checks the package and loads it with Corridor's loader
    requirements.txt          corridor, mlflow, the flavour's library, the package's requirements
    python_env.yaml           MLflow's virtualenv description (points at requirements.txt)
    corridor-public-keys.json the server's package signing keys (public halves), by key id
    package/...               the package's files, byte for byte
    package/corridor-manifest.json
    package/corridor-model.sig  the package's signature

The package sits in its own folder, as Corridor's client downloads it, so that what Corridor
checks (every listed file, the manifest, its signature, nothing else) is not disturbed by
MLflow's files. The written files are not part of the package: its digest and signature stay
what they were, and the script pins the digest, so a package changed on the way is refused
before it is loaded. The keys travel with the folder as Corridor's client fetches them from the
server; a caller who pinned a key passes it instead (``model_config={"public_key_files":
["key.pem"]}``), and then only that key is trusted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from corridor.registry.manifest import (
    MANIFEST_FILE_NAME,
    ColumnSchema,
    Manifest,
    Signature,
    TensorSchema,
)

MLMODEL = "MLmodel"
CODE_FILE = "corridor_model.py"
REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
PUBLIC_KEYS_FILE = "corridor-public-keys.json"
PACKAGE_FOLDER = "package"
SIGNATURE_PATH = f"{PACKAGE_FOLDER}/corridor-model.sig"
# MLflow passes a load_model(model_config=...) on only for keys the MLmodel lists.
PINNED_KEYS_CONFIG = "public_key_files"
# MLflow's loader for models-from-code (what mlflow.pyfunc.save_model(python_model="x.py")
# writes); it runs the script and takes the model the script passes to set_model.
CODE_MODEL_LOADER = "mlflow.pyfunc.loaders.code_model"
# The MLflow releases this folder is written for and tested with.
MLFLOW_REQUIREMENT = "mlflow>=3.17,<4"

# Flavours MLflow can load through Corridor's loader, and the libraries that loader needs
# (as Corridor's own extras pin them), unless the package's requirements name them already.
FLAVOURS: dict[str, tuple[str, ...]] = {
    "corridor.linear": (),
    "onnx": ("onnxruntime>=1.18", "numpy>=1.26"),
    "skops": ("skops>=0.10", "scikit-learn>=1.5"),
    "torch": ("torch==2.13.0", "safetensors>=0.4", "numpy>=1.26"),
    "sentence_transformers": ("sentence-transformers>=3.0",),
}


def loads_through_mlflow(flavour: str | None) -> bool:
    """Whether MLflow clients get the models-from-code folder for packages of ``flavour``."""
    return flavour in FLAVOURS


@dataclass(frozen=True)
class PackageFacts:
    """What the written files say about the version besides its manifest."""

    name: str
    version: int
    package_digest: str
    corridor_version: str
    python_version: str  # the server's, for python_env.yaml: "3.11.7"


def _yaml(value: dict[str, object] | list[object], indent: str = "") -> str:
    """``value`` (of dicts, lists, strings, numbers, booleans, None) as block YAML.

    Strings are written as JSON strings, which are YAML's double-quoted scalars, so no name a
    user chose can end a line or start a new key.
    """
    items: list[tuple[str, object]]
    if isinstance(value, dict):
        items = [(f"{indent}{key}:", item) for key, item in value.items()]
    else:
        items = [(f"{indent}-", item) for item in value]
    lines: list[str] = []
    for head, item in items:
        if isinstance(item, dict | list) and item:
            lines.append(head + "\n" + _yaml(item, indent + "  "))
        else:
            lines.append(f"{head} {_scalar(item)}\n")
    return "".join(lines)


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(str(value))


def _project_name(requirement: str) -> str:
    """``"torch==2.13"`` -> ``"torch"``, normalised as pip compares names."""
    name = requirement
    for stop in "<>=!~;[ @":
        name = name.split(stop, 1)[0]
    return name.strip().lower().replace("_", "-").replace(".", "-")


def requirements(manifest: Manifest, corridor_version: str) -> list[str]:
    """What loading needs: Corridor (its loader), MLflow, the flavour's library, and what the
    package says it needs; a library the package names keeps the package's version."""
    declared = list(dict.fromkeys(manifest.requirements))
    named = {_project_name(r) for r in declared}
    wanted = [
        f"corridor=={corridor_version}",
        MLFLOW_REQUIREMENT,
        *FLAVOURS.get(manifest.flavour, ()),
    ]
    return [r for r in wanted if _project_name(r) not in named] + declared


# NumPy's own dtypes, which MLflow's TensorSpec states; anything else (bfloat16, which NumPy
# knows only once a library such as ml_dtypes registered it) is left out, whatever is imported.
_MLFLOW_DTYPES = frozenset(
    {"bool", "str", "bytes", "object", "float16", "float32", "float64", "complex64", "complex128"}
    | {f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)}
)


def _tensor_dtype(dtype: str) -> str | None:
    """MLflow's name for a manifest dtype (``float`` -> ``float64``); None if it has none."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        return None
    return name if name in _MLFLOW_DTYPES else None


def _mlflow_schema(schema: ColumnSchema | TensorSchema) -> str | None:
    """MLflow's JSON for one schema; None if MLflow cannot say it (a dtype numpy does not
    know, or some inputs named and others not, which MLflow's schemas do not allow)."""
    entries: list[dict[str, object]] = []
    if isinstance(schema, TensorSchema):
        for tensor in schema.tensors:
            dtype = _tensor_dtype(tensor.dtype)
            if dtype is None:
                return None
            spec: dict[str, object] = {"dtype": dtype, "shape": list(tensor.shape)}
            entries.append({"type": "tensor", "tensor-spec": spec, "name": tensor.name})
    else:
        for column in schema.columns:
            entries.append({"type": column.type, "name": column.name, "required": column.required})
    names = [e["name"] for e in entries]
    if any(n is None for n in names):
        if any(n is not None for n in names):
            return None
        entries = [{k: v for k, v in e.items() if k != "name"} for e in entries]
    return json.dumps(entries)


def mlflow_signature(signature: Signature | None) -> dict[str, str | None] | None:
    """The manifest's signature in the form an ``MLmodel`` file holds; None where it cannot."""
    if signature is None:
        return None
    inputs = _mlflow_schema(signature.inputs)
    if inputs is None:
        return None
    outputs = None if signature.outputs is None else _mlflow_schema(signature.outputs)
    return {"inputs": inputs, "outputs": outputs, "params": None}


def mlmodel(manifest: Manifest, facts: PackageFacts) -> bytes:
    """The ``MLmodel`` file: MLflow's python_function flavour, written the models-from-code way."""
    created = manifest.created_at.astimezone(dt.UTC).replace(tzinfo=None)
    data: dict[str, object] = {
        "flavors": {
            "python_function": {
                "artifacts": {
                    PACKAGE_FOLDER: {"path": PACKAGE_FOLDER, "uri": PACKAGE_FOLDER},
                    "public_keys": {"path": PUBLIC_KEYS_FILE, "uri": PUBLIC_KEYS_FILE},
                },
                "code": None,
                "env": {"virtualenv": PYTHON_ENV_FILE},
                "loader_module": CODE_MODEL_LOADER,
                "model_code_path": CODE_FILE,
                # MLflow's key for the model's config (what load_model(model_config=) overrides).
                "config": {PINNED_KEYS_CONFIG: []},
                "python_version": facts.python_version,
                "streamable": False,
            }
        },
        "metadata": {
            "corridor_model": facts.name,
            "corridor_model_version": facts.version,
            "corridor_flavour": manifest.flavour,
            "corridor_package_digest": facts.package_digest,
        },
        "utc_time_created": str(created),
    }
    signature = mlflow_signature(manifest.signature)
    if signature is not None:
        data["signature"] = signature
    return _yaml(data).encode()


_SCRIPT = '''"""Model {name!r} version {version} (Corridor flavour {flavour!r}), for MLflow.

Written by the Corridor server. MLflow runs this file to load the model (models-from-code), so
nothing is unpickled: Corridor checks the package in ./{folder} against the digest below and
its signature, and its loader loads it only if its flavour needs no pickle. To trust only a
key you pinned: mlflow.pyfunc.load_model(uri, model_config={{"{pinned}": ["key.pem"]}}).
"""

from pathlib import Path

import mlflow
from mlflow.pyfunc import PythonModel

PACKAGE_DIGEST = "{digest}"


class CorridorPackageModel(PythonModel):
    """Predicts with the Corridor package the folder holds."""

    # The MLmodel's signature checks inputs; predict has no type hints for MLflow to check.
    _skip_type_hint_validation = True

    def load_context(self, context):
        from corridor.registry.mlflow_loading import load_checked

        self.model = load_checked(
            Path(context.artifacts["{folder}"]),
            PACKAGE_DIGEST,
            served_keys=Path(context.artifacts["public_keys"]),
            pinned_key_files=(context.model_config or {{}}).get("{pinned}") or [],
        )

    def predict(self, context, model_input, params=None):
        return self.model.predict(model_input)


mlflow.models.set_model(CorridorPackageModel())
'''


def code_file(manifest: Manifest, facts: PackageFacts) -> bytes:
    """The script MLflow runs to load the model."""
    return _SCRIPT.format(
        name=facts.name,
        version=facts.version,
        flavour=manifest.flavour,
        folder=PACKAGE_FOLDER,
        digest=facts.package_digest,
        pinned=PINNED_KEYS_CONFIG,
    ).encode()


def python_env(facts: PackageFacts) -> bytes:
    data: dict[str, object] = {
        "python": facts.python_version,
        "build_dependencies": ["pip"],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    return _yaml(data).encode()


def public_keys_file(public_keys: Mapping[str, bytes]) -> bytes:
    """The signing keys' public PEMs by key id, as JSON."""
    return json.dumps({k: pem.decode("ascii") for k, pem in sorted(public_keys.items())}).encode()


def written_files(
    manifest: Manifest, facts: PackageFacts, public_keys: Mapping[str, bytes]
) -> dict[str, bytes]:
    """The files the server writes beside the package, by path in the folder."""
    return {
        PUBLIC_KEYS_FILE: public_keys_file(public_keys),
        MLMODEL: mlmodel(manifest, facts),
        CODE_FILE: code_file(manifest, facts),
        REQUIREMENTS_FILE: "".join(
            f"{r}\n" for r in requirements(manifest, facts.corridor_version)
        ).encode(),
        PYTHON_ENV_FILE: python_env(facts),
    }


def package_path(path: str) -> str:
    """Where a package file (or the manifest) sits in the folder."""
    return f"{PACKAGE_FOLDER}/{path}"


MANIFEST_PATH = package_path(MANIFEST_FILE_NAME)
