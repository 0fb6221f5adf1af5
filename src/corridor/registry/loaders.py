"""Load a downloaded package into something that predicts, on the client. Never on the server.

One table maps a flavour to its loader; each backend that needs an optional library (onnxruntime,
skops, torch, sentence-transformers) lives in its own module and imports it only when used.

A pickle-based flavour (`corridor.registry.flavours`) runs code from the package when loaded,
so it is loaded only when the version's project allows pickle (its server admin's switch, which
the server reports with the version as ``pickle_allowed``). A package of any other flavour is
refused if a file in it is pickle data (`corridor.registry.pickle_data`). A flavour with no
loader here still loads: you get its folder and manifest, and no predictor.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from corridor.errors import InvalidInput
from corridor.registry.flavours import is_pickle_based
from corridor.registry.function_loader import load_function
from corridor.registry.manifest import Manifest
from corridor.registry.onnx_loader import load_onnx
from corridor.registry.package_signing import verify_before_loading
from corridor.registry.pickle_data import refuse_pickle_files
from corridor.registry.sentence_transformers_loader import load_sentence_transformer
from corridor.registry.skops_loader import load_skops
from corridor.registry.torch_loader import load_torch


class Predictor(Protocol):
    def predict(self, inputs: Any) -> Any: ...


@dataclass(frozen=True)
class LoadedModel:
    """A downloaded, verified package: its folder, its manifest and (if any) its predictor."""

    path: Path
    manifest: Manifest
    predictor: Predictor | None

    def predict(self, inputs: Any) -> Any:
        if self.predictor is None:
            raise InvalidInput(
                f"Corridor has no loader for flavour {self.manifest.flavour!r}; "
                f"load the files in {self.path} with that flavour's library"
            )
        return self.predictor.predict(inputs)


@dataclass(frozen=True)
class LinearModel:
    """``corridor.linear``: outputs = inputs @ weights + bias, from JSON; needs no pickle.

    The entry file is ``{"weights": [w1, ...] or [[...], ...], "bias": b or [b1, ...]}``: a
    vector of weights gives one output per row, a matrix (inputs x outputs) several.
    """

    weights: tuple[tuple[float, ...], ...]  # one row per input feature
    bias: tuple[float, ...]
    single: bool

    @classmethod
    def from_json(cls, data: Any) -> LinearModel:
        if not isinstance(data, dict) or set(data) != {"weights", "bias"}:
            raise InvalidInput('a corridor.linear model is {"weights": [...], "bias": ...}')
        weights, bias = data["weights"], data["bias"]
        single = not (isinstance(weights, list) and weights and isinstance(weights[0], list))
        matrix = [[w] for w in weights] if single else weights
        biases = [bias] if single else bias
        rows = tuple(tuple(_number(x) for x in row) for row in matrix)
        if not rows or len({len(r) for r in rows}) != 1:
            raise InvalidInput("corridor.linear weights must be a non-empty vector or matrix")
        out = tuple(_number(b) for b in biases)
        if len(out) != len(rows[0]):
            raise InvalidInput("corridor.linear bias must have one value per output")
        return cls(rows, out, single)

    def predict(self, inputs: Sequence[Sequence[float]]) -> list[Any]:
        results: list[Any] = []
        for row in inputs:
            if len(row) != len(self.weights):
                raise InvalidInput(
                    f"each input row needs {len(self.weights)} values, got {len(row)}"
                )
            outputs = [
                sum(float(x) * w[j] for x, w in zip(row, self.weights, strict=True)) + b
                for j, b in enumerate(self.bias)
            ]
            results.append(outputs[0] if self.single else outputs)
        return results


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{value!r} is not a finite number")
    return float(value)


def _entry(path: Path, manifest: Manifest) -> Path:
    if manifest.entry is None:
        raise InvalidInput(f"flavour {manifest.flavour!r} needs the manifest's entry file")
    return path / manifest.entry


def _load_linear(path: Path, manifest: Manifest) -> Predictor:
    with _entry(path, manifest).open("rb") as f:
        return LinearModel.from_json(json.load(f))


def _load_pickle(path: Path, manifest: Manifest) -> Predictor:
    with _entry(path, manifest).open("rb") as f:
        # Reached only when a server admin allowed pickle in the version's project.
        model = pickle.load(f)  # noqa: S301
    if not callable(getattr(model, "predict", None)):
        raise InvalidInput(f"the unpickled {type(model).__name__} has no predict method")
    predictor: Predictor = model
    return predictor


LOADERS: dict[str, Callable[[Path, Manifest], Predictor]] = {
    "corridor.linear": _load_linear,
    "corridor.function": load_function,
    "pickle": _load_pickle,
    "sklearn": _load_pickle,
    "sentence_transformers": load_sentence_transformer,
    "onnx": load_onnx,
    "skops": load_skops,
    "torch": load_torch,
}


def load(
    path: Path,
    manifest: Manifest,
    *,
    pickle_allowed: bool = False,
    public_keys: Iterable[bytes] | None = None,
) -> LoadedModel:
    """Load the package downloaded to ``path``; pickle only if ``pickle_allowed`` (the
    version's project allows it).

    Before anything is read, the folder is verified against its ``corridor-model.sig`` with
    ``public_keys`` (PEM public keys: the server's signing keys, or one you pinned); an
    unsigned, tampered or unknown-key package raises `SignatureInvalid`.
    """
    verify_before_loading(path, manifest, public_keys)
    if not is_pickle_based(manifest.flavour):
        # A pickle under a safe flavour's name would reach a library that unpickles it.
        refuse_pickle_files(path, manifest.flavour, manifest.files)
    elif not pickle_allowed:
        raise InvalidInput(
            f"flavour {manifest.flavour!r} is pickle-based (or unknown): loading it runs code "
            "from the package, and its project does not allow pickle. A server admin can "
            "allow it for the project (corridor admin pickle allow PROJECT); or register the "
            f"model as ONNX, skops, safetensors or torch. The files are in {path}"
        )
    loader = LOADERS.get(manifest.flavour)
    return LoadedModel(path, manifest, loader(path, manifest) if loader else None)
