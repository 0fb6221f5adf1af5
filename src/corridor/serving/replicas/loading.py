"""What every kind of replica does with a package: load it, warm it, predict with clear errors.

The same three steps run in the gateway's process, in a worker process and in a Ray actor, so
they live here once: `load_model` parses the stored manifest and hands the folder to the
runtimes registry (which verifies the package's signature before reading anything, and never
unpickles); `sample_batch` makes a small batch that fits the signature, to warm the model and
time it; `predict_checked` turns an exception of the model's own code into `ModelFailed`, which
names the model and the batch, so a caller sees a 500 that says what failed rather than a bare
traceback. Signatures cross process boundaries as JSON (`signature_to_json`), never pickled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from corridor.errors import CorridorError
from corridor.registry.manifest import parse_manifest
from corridor.serving.replicas.base import ModelFailed
from corridor.serving.runtimes.base import RuntimeOptions, ServedModel
from corridor.serving.tensors import Batch, ModelSignature, TensorSpec, numpy_dtype


def load_model(
    path: Path,
    manifest_json: bytes,
    public_keys: Iterable[bytes],
    *,
    threads: int | None = None,
    device: str = "cpu",
) -> ServedModel:
    """The verified package at ``path`` loaded by the runtime its flavour names; ``threads``:
    the model's intra-op threads (None: the runtime's default); ``device``: where it computes."""
    from corridor.serving.runtimes.registry import load_served_model

    manifest = parse_manifest(manifest_json)
    options = RuntimeOptions(threads=threads, device=device)
    return load_served_model(path, manifest, public_keys=list(public_keys), options=options)


def device_of(resources: Mapping[str, float]) -> str:
    """``cuda`` for a replica given a GPU (Ray makes the GPUs it gave the actor the only ones
    visible, so the first visible is its own), else ``cpu``."""
    return "cuda" if resources.get("GPU") else "cpu"


def cpu_threads(resources: Mapping[str, float]) -> int:
    """The intra-op threads of a worker-process or Ray replica: its whole CPUs, one unless
    ``resources`` asks for more (Ray Serve's default too). A thread per core in each of N
    replicas on one machine fights over the cores: a small MLP's batch of 32 took 13 ms that
    way on a busy 2-core machine, against 0.3 ms on one thread."""
    return max(1, int(resources.get("CPU") or 1))


def sample_batch(signature: ModelSignature, rows: int) -> Batch:
    """``rows`` rows of zeros (texts for ``BYTES``) that fit ``signature``'s inputs; a
    dimension the signature leaves open (-1) past the batch axis is taken as 1."""
    batch: Batch = {}
    for spec in signature.inputs:
        shape = (rows, *(d if d > 0 else 1 for d in spec.shape[1:]))
        if spec.datatype == "BYTES":
            batch[spec.name] = np.full(shape, b"warm up", dtype=object)
        else:
            batch[spec.name] = np.zeros(shape, dtype=numpy_dtype(spec.datatype))
    return batch


def predict_checked(model: ServedModel, inputs: Batch, what: str) -> Batch:
    """``model.predict(inputs)``; an exception of the model's own code becomes `ModelFailed`."""
    try:
        return model.predict(inputs)
    except CorridorError:
        raise
    except Exception as exc:  # the model's code: anything may come out of it
        rows = next((len(a) for a in inputs.values()), 0)
        raise ModelFailed(
            f"model {what} failed on a batch of {rows} row(s): {type(exc).__name__}: {exc}"
        ) from exc


def signature_to_json(signature: ModelSignature) -> dict[str, Any]:
    return {
        "inputs": [t.as_metadata() for t in signature.inputs],
        "outputs": [t.as_metadata() for t in signature.outputs],
        "allow_nan": signature.allow_nan,
    }


def signature_from_json(data: Mapping[str, Any]) -> ModelSignature:
    def specs(items: Any) -> tuple[TensorSpec, ...]:
        return tuple(
            TensorSpec(str(t["name"]), str(t["datatype"]), tuple(int(d) for d in t["shape"]))
            for t in items
        )

    return ModelSignature(
        inputs=specs(data["inputs"]),
        outputs=specs(data["outputs"]),
        allow_nan=bool(data.get("allow_nan", False)),
    )
