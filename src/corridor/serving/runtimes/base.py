"""The model-runtime seam: a loaded model that predicts batches of named tensors.

A backend loads a verified package folder into a `ServedModel`; the registry of backends
(`corridor.serving.runtimes.registry`) picks one by the package's flavour. Everything above
this seam (replicas, batching, the gateway) sees only this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from corridor.registry.manifest import Manifest
from corridor.serving.tensors import Batch, ModelSignature

ModelKind = Literal["tensors", "embeddings"]


class ServedModel(Protocol):
    """A model ready to predict.

    ``predict`` takes inputs already checked against ``signature`` (every input present, the
    declared datatype, batched along axis 0) and returns every output of the signature, each
    with the same first dimension as the inputs. ``kind`` is ``"embeddings"`` for a model that
    maps texts (one ``BYTES`` input) to vectors (one ``FP32`` output): such a model also
    answers OpenAI-style ``/v1/embeddings``.
    """

    signature: ModelSignature
    kind: ModelKind

    def predict(self, inputs: Batch) -> Batch: ...


@dataclass(frozen=True)
class RuntimeOptions:
    """How a backend runs its model. ``threads``: intra-op threads of torch or onnxruntime
    (None: the backend chooses; each backend module says how). ``device``: where a torch or
    sentence-transformers model computes (``"cpu"``, ``"cuda"``, ``"cuda:1"``); the other
    backends compute on the CPU and refuse any other device."""

    threads: int | None = None
    device: str = "cpu"


class RuntimeBackend(Protocol):
    """Load the package at ``path`` (already verified, never pickle) into a `ServedModel`."""

    def __call__(
        self, path: Path, manifest: Manifest, options: RuntimeOptions = ...
    ) -> ServedModel: ...
