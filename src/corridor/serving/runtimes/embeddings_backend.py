"""Serve a ``sentence_transformers`` package as an embeddings model: texts in, vectors out.

The registry's loader refuses pickle data and foreign module types before the library sees the
folder, then loads it offline on the CPU with remote code off. Its kind is ``"embeddings"``, so
a deployment of it also answers OpenAI-style ``/v1/embeddings``.

The signature is ``text`` BYTES [-1] -> ``embedding`` FP32 [-1, dimension] (the package's own
signature describes a string column, which is no tensor signature), or the manifest's if it
declares one tensor in and one out. Each text arrives as UTF-8 bytes (or already as a str) and
is decoded here; text that is not UTF-8 is `InvalidInput`. ``RuntimeOptions.threads`` sets
torch's intra-op threads, global to the process, and ``RuntimeOptions.device`` where the model
computes (see `corridor.serving.runtimes.torch_backend`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from corridor.errors import InvalidInput
from corridor.registry.manifest import Manifest
from corridor.registry.sentence_transformers_loader import (
    SentenceEmbedder,
    load_sentence_transformer,
)
from corridor.serving.runtimes.base import ModelKind, RuntimeOptions
from corridor.serving.runtimes.model_signatures import declared_signature, embedder_signature
from corridor.serving.runtimes.results import model_failure
from corridor.serving.runtimes.torch_backend import torch_device
from corridor.serving.tensors import Batch, ModelSignature


def texts_of(array: npt.NDArray[Any]) -> list[str]:
    """The texts of a BYTES tensor of any shape, in order; `InvalidInput` for non-UTF-8 bytes."""
    texts = []
    for i, value in enumerate(array.ravel().tolist()):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"text {i} is not UTF-8") from None
        if not isinstance(value, str):
            raise InvalidInput(f"text {i} is a {type(value).__name__}, not a string")
        texts.append(value)
    return texts


class EmbeddingModel:
    """A sentence-transformers model embedding batches of texts."""

    kind: ModelKind = "embeddings"

    def __init__(self, embedder: SentenceEmbedder, signature: ModelSignature) -> None:
        self.embedder = embedder
        self.signature = signature
        self._input = signature.inputs[0].name
        self._output = signature.outputs[0].name

    def predict(self, inputs: Batch) -> Batch:
        texts = texts_of(inputs[self._input])
        try:
            vectors = self.embedder.predict(texts)
        except Exception as exc:
            raise model_failure(exc, self.signature) from None
        return {self._output: np.asarray(vectors, dtype=np.float32)}


def load(
    path: Path, manifest: Manifest, options: RuntimeOptions = RuntimeOptions()
) -> EmbeddingModel:
    """Load the verified ``sentence_transformers`` package at ``path``."""
    import torch

    if options.threads is not None:
        torch.set_num_threads(max(1, options.threads))
    device = torch_device(options.device)
    embedder = load_sentence_transformer(path, manifest)
    if device.type != "cpu":
        embedder.model.to(device)
    signature = embedder_signature(embedder.dimension)
    declared = declared_signature(manifest)
    if declared is not None and len(declared.inputs) == 1 and len(declared.outputs) == 1:
        if declared.inputs[0].datatype != "BYTES" or declared.outputs[0].datatype != "FP32":
            raise InvalidInput(
                f"an embedder takes BYTES texts and gives FP32 vectors, not {declared.describe()}"
            )
        signature = declared
    return EmbeddingModel(embedder, signature)
