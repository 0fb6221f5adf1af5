"""Serve a ``corridor.function`` package: a Python function over named arrays, imported from
the package's own code by the registry's loader (`corridor.registry.function_loader`).

The function is the model: it gets the checked batch (``{input name: ndarray}``) and returns
``{output name: ndarray}``; the signature is the manifest's, which the package must declare
with its inputs and outputs, since nothing else says what the function takes. What the function
raises on a batch is the request's fault as far as the server can tell: it becomes
`InvalidInput` naming the signature, and the replica serves on.
"""

from __future__ import annotations

from pathlib import Path

from corridor.errors import InvalidInput
from corridor.registry.function_loader import FunctionModel, load_function
from corridor.registry.manifest import Manifest
from corridor.serving.runtimes.base import ModelKind, RuntimeOptions
from corridor.serving.runtimes.model_signatures import declared_signature, kind_of
from corridor.serving.runtimes.results import model_failure, named_outputs
from corridor.serving.tensors import Batch, ModelSignature


class FunctionServed:
    """A package's function serving batches; an embeddings model if its signature maps texts
    to vectors (`corridor.serving.runtimes.model_signatures.kind_of`)."""

    def __init__(self, function: FunctionModel, signature: ModelSignature) -> None:
        self.function = function
        self.signature = signature
        self.kind: ModelKind = kind_of(signature)

    def predict(self, inputs: Batch) -> Batch:
        try:
            return named_outputs(self.function.predict(inputs), self.signature)
        except Exception as exc:
            raise model_failure(exc, self.signature) from None


def load(
    path: Path, manifest: Manifest, options: RuntimeOptions = RuntimeOptions()
) -> FunctionServed:
    """Import the function of the verified ``corridor.function`` package at ``path``."""
    del options  # a function runs on the thread that calls it
    signature = declared_signature(manifest)
    if signature is None or not signature.inputs or not signature.outputs:
        raise InvalidInput(
            "a corridor.function package is served only with a tensor signature naming its "
            "inputs and outputs: register the function with one"
        )
    return FunctionServed(load_function(path, manifest), signature)
