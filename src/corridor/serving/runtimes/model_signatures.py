"""The signature a served model answers to: the one its manifest declares, else what its
backend derives from the model (an ONNX graph's inputs and outputs, an embedder's dimension).

A model whose signature maps texts to vectors (one BYTES input, one FP32 output of two axes)
is an embeddings model, whatever its flavour (`kind_of`): a Python function or an ONNX graph
that embeds answers OpenAI-style ``/v1/embeddings`` as a sentence-transformers model does.

A manifest's column signature (a table's columns, as scikit-learn and the embedder packages
may declare) says nothing about tensors and reads as no signature here.
"""

from __future__ import annotations

from corridor.registry.manifest import Manifest
from corridor.serving.runtimes.base import ModelKind
from corridor.serving.tensors import ModelSignature, TensorSpec, signature_from_manifest

TEXT_INPUT = "text"
EMBEDDING_OUTPUT = "embedding"


def declared_signature(manifest: Manifest) -> ModelSignature | None:
    """The manifest's tensor signature in OIP terms, or None."""
    if manifest.signature is None:
        return None
    return signature_from_manifest(manifest.signature.model_dump(mode="json"))


def embedder_signature(dimension: int) -> ModelSignature:
    """Texts in, vectors out: ``text`` BYTES [-1] -> ``embedding`` FP32 [-1, dimension]."""
    return ModelSignature(
        inputs=(TensorSpec(TEXT_INPUT, "BYTES", (-1,)),),
        outputs=(TensorSpec(EMBEDDING_OUTPUT, "FP32", (-1, dimension)),),
    )


def kind_of(signature: ModelSignature) -> ModelKind:
    """``"embeddings"`` for texts in, vectors out (one BYTES input, one FP32 [-1, d] output);
    ``"tensors"`` for anything else."""
    if len(signature.inputs) != 1 or len(signature.outputs) != 1:
        return "tensors"
    text, vector = signature.inputs[0], signature.outputs[0]
    if text.datatype == "BYTES" and vector.datatype == "FP32" and len(vector.shape) == 2:
        return "embeddings"
    return "tensors"
