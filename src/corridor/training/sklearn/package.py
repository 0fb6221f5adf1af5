"""A fitted scikit-learn model as package files: skops, or ONNX through skl2onnx. Never pickle.

skops writes the estimator's state in a format whose loader refuses types it was not told to
trust, so loading it runs no code of the package's choosing. ONNX is a graph any ONNX runtime
serves; the conversion casts inputs to float32 (what skl2onnx's converters take) and, for a
classifier, returns probabilities as a plain array rather than a list of dicts (no ZipMap).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corridor.errors import InvalidInput
from corridor.registry.manifest import Signature
from corridor.training.model_files import ModelFiles
from corridor.training.sklearn.signature import infer_signature, onnx_signature

SKOPS_ENTRY = "model.skops"
ONNX_ENTRY = "model.onnx"
FORMATS = ("skops", "onnx")


def skops_files(estimator: Any, x: Any, *, signature: Signature | None = None) -> ModelFiles:
    """The estimator in skops format, with a signature read from the features ``x`` unless
    one is given."""
    import sklearn  # type: ignore[import-untyped]
    import skops  # type: ignore[import-untyped]
    import skops.io  # type: ignore[import-untyped]

    return ModelFiles(
        files={SKOPS_ENTRY: skops.io.dumps(estimator)},
        flavour="skops",
        entry=SKOPS_ENTRY,
        signature=signature or infer_signature(estimator, x),
        requirements=(f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}"),
    )


def onnx_files(estimator: Any, x: Any, *, signature: Signature | None = None) -> ModelFiles:
    """The estimator converted to ONNX (its input the features ``x``, as float32), with its
    graph's signature unless one is given."""
    import onnxruntime  # type: ignore[import-untyped]
    from skl2onnx import to_onnx  # type: ignore[import-untyped]
    from sklearn.base import is_classifier  # type: ignore[import-untyped]
    from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]

    values = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x)
    if values.dtype.kind not in ("f", "i", "u", "b"):
        raise InvalidInput(
            "ONNX conversion needs numeric features; encode text columns first, or use "
            "format='skops'"
        )
    sample = values[:5].astype(np.float32)
    options: dict[int, dict[str, bool]] = {}
    if is_classifier(estimator):
        final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
        options[id(final)] = {"zipmap": False}
    try:
        model = to_onnx(estimator, sample, options=options or None)
    except Exception as exc:  # skl2onnx raises many kinds; say which model and why
        raise InvalidInput(
            f"{type(estimator).__name__} cannot be converted to ONNX: {exc}; use format='skops'"
        ) from exc
    return ModelFiles(
        files={ONNX_ENTRY: model.SerializeToString()},
        flavour="onnx",
        entry=ONNX_ENTRY,
        signature=signature or onnx_signature(model),
        requirements=(f"onnxruntime>={onnxruntime.__version__}",),
    )


def package_files(
    estimator: Any, x: Any, format: str, *, signature: Signature | None = None
) -> ModelFiles:
    if format == "skops":
        return skops_files(estimator, x, signature=signature)
    if format == "onnx":
        return onnx_files(estimator, x, signature=signature)
    raise InvalidInput(f"unknown format {format!r}: use skops or onnx (never pickle)")
