"""Builders that turn the best trial's artifact into package files, for ``register_best``.

A builder is ``builder(params, artifact) -> ModelFiles``: the best trial's params, and the
artifact its objective returned beside its value (``return score, skops.io.dumps(model)``).
These two take bytes the objective already wrote in a safe format and never load them here:
skops bytes are stored as they are (the registry's skops loader checks their types when the
model is loaded), and ONNX bytes are only parsed as a protobuf for their signature.
"""

from __future__ import annotations

from typing import Any

from corridor.errors import InvalidInput
from corridor.training.model_files import ModelFiles
from corridor.training.sklearn.package import ONNX_ENTRY, SKOPS_ENTRY


def _bytes(artifact: object, what: str) -> bytes:
    if not isinstance(artifact, bytes):
        raise InvalidInput(
            f"the best trial's artifact is {type(artifact).__name__}, not {what} bytes: return "
            f"(value, {what} bytes) from the objective"
        )
    return artifact


def skops_package(params: dict[str, Any], artifact: object) -> ModelFiles:
    """The artifact is ``skops.io.dumps(model)``."""
    data = _bytes(artifact, "skops")
    if data[:2] != b"PK":
        raise InvalidInput("the best trial's artifact is not a skops file (a zip archive)")
    return ModelFiles(files={SKOPS_ENTRY: data}, flavour="skops", entry=SKOPS_ENTRY)


def onnx_package(params: dict[str, Any], artifact: object) -> ModelFiles:
    """The artifact is an ONNX model's bytes (``model.SerializeToString()``)."""
    import onnx

    from corridor.training.sklearn.signature import onnx_signature

    data = _bytes(artifact, "ONNX")
    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise InvalidInput(f"the best trial's artifact is not an ONNX model: {exc}") from None
    return ModelFiles(
        files={ONNX_ENTRY: data},
        flavour="onnx",
        entry=ONNX_ENTRY,
        signature=onnx_signature(model),
    )
