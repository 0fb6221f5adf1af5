"""Serve a ``corridor.linear`` package: ``outputs = inputs @ weights + bias``, from JSON.

The registry's `LinearModel` parses and checks the JSON; serving runs the product with NumPy
(one matrix product per batch) rather than its per-row Python loop. The signature is the
manifest's, else ``input`` FP64 [-1, n_inputs] -> ``output`` FP64 [-1] (a weight vector) or
[-1, n_outputs] (a weight matrix).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from corridor.errors import InvalidInput
from corridor.registry.loaders import LinearModel
from corridor.registry.manifest import Manifest
from corridor.serving.runtimes.base import ModelKind, RuntimeOptions
from corridor.serving.runtimes.model_signatures import declared_signature
from corridor.serving.runtimes.results import model_failure, named_outputs
from corridor.serving.tensors import Batch, ModelSignature, TensorSpec


class LinearServed:
    """A linear model serving batches of one feature matrix."""

    kind: ModelKind = "tensors"

    def __init__(self, model: LinearModel, signature: ModelSignature) -> None:
        self.signature = signature
        self.weights = np.asarray(model.weights, dtype=np.float64)  # inputs x outputs
        self.bias = np.asarray(model.bias, dtype=np.float64)
        self.single = model.single
        self._input = signature.inputs[0].name

    def predict(self, inputs: Batch) -> Batch:
        try:
            out = np.asarray(inputs[self._input], dtype=np.float64) @ self.weights + self.bias
        except Exception as exc:  # a width that does not match the weights
            raise model_failure(exc, self.signature) from None
        return named_outputs(out[:, 0] if self.single else out, self.signature)


def load(
    path: Path, manifest: Manifest, options: RuntimeOptions = RuntimeOptions()
) -> LinearServed:
    """Load the verified ``corridor.linear`` package at ``path``."""
    del options
    if manifest.entry is None:
        raise InvalidInput("a corridor.linear package needs its entry file in the manifest")
    try:
        data = json.loads((path / manifest.entry).read_bytes())
    except ValueError as exc:
        raise InvalidInput(f"{manifest.entry} is not JSON: {exc}") from None
    model = LinearModel.from_json(data)
    n_in, n_out = len(model.weights), len(model.bias)
    signature = declared_signature(manifest) or ModelSignature(
        inputs=(TensorSpec("input", "FP64", (-1, n_in)),),
        outputs=(TensorSpec("output", "FP64", (-1,) if model.single else (-1, n_out)),),
    )
    if len(signature.inputs) != 1 or len(signature.outputs) != 1:
        raise InvalidInput(
            f"a linear model takes one matrix and gives one, not {signature.describe()}"
        )
    return LinearServed(model, signature)
