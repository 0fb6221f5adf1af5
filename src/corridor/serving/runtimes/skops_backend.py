"""Serve a ``skops`` package: a scikit-learn estimator, loaded by the registry's skops loader
(which refuses any type outside scikit-learn, NumPy, SciPy and the builtin types).

The signature is the manifest's tensor signature (`corridor.training.sklearn` writes one:
``input`` -> ``prediction``); without one the estimator's ``n_features_in_`` gives an
``input`` FP64 [-1, n] and its classes (or FP64, for a regressor) an output ``prediction`` [-1].

Which method answers each output is read from its name, and nothing else: an output named
``probabilities`` (or ``probability``, ``proba``, ``predict_proba``) is ``predict_proba``,
any other ``predict``. Each method runs once per batch however many outputs use it. An
estimator takes one feature matrix: a signature with several inputs is refused at load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from corridor.errors import InvalidInput
from corridor.registry.manifest import Manifest
from corridor.registry.skops_loader import load_skops
from corridor.serving.runtimes.base import ModelKind, RuntimeOptions
from corridor.serving.runtimes.model_signatures import declared_signature
from corridor.serving.runtimes.results import model_failure, named_outputs
from corridor.serving.tensors import Batch, ModelSignature, TensorSpec, datatype_of_array

PROBABILITY_OUTPUTS = frozenset({"probabilities", "probability", "proba", "predict_proba"})


def method_of(output: str) -> str:
    """The estimator method that computes the output named ``output``."""
    return "predict_proba" if output in PROBABILITY_OUTPUTS else "predict"


class SkopsModel:
    """A scikit-learn estimator serving batches of one feature matrix."""

    kind: ModelKind = "tensors"

    def __init__(self, estimator: Any, signature: ModelSignature) -> None:
        self.estimator = estimator
        self.signature = signature
        self._input = signature.inputs[0].name
        self._methods = tuple((t.name, method_of(t.name)) for t in signature.outputs)

    def predict(self, inputs: Batch) -> Batch:
        features = inputs[self._input]
        computed: dict[str, Any] = {}
        try:
            for _, method in self._methods:
                if method not in computed:
                    computed[method] = np.asarray(getattr(self.estimator, method)(features))
        except Exception as exc:  # scikit-learn raises ValueError, TypeError, AttributeError...
            raise model_failure(exc, self.signature) from None
        return named_outputs({n: computed[m] for n, m in self._methods}, self.signature)


def _derived_signature(estimator: Any) -> ModelSignature:
    features = getattr(estimator, "n_features_in_", None)
    if not isinstance(features, int):
        raise InvalidInput(
            "the skops package has no tensor signature and its estimator does not say how many "
            "features it takes: register the model with a signature"
        )
    classes = getattr(estimator, "classes_", None)
    datatype = "FP64" if classes is None else datatype_of_array(np.asarray(classes))
    return ModelSignature(
        inputs=(TensorSpec("input", "FP64", (-1, features)),),
        outputs=(TensorSpec("prediction", datatype, (-1,)),),
    )


def load(path: Path, manifest: Manifest, options: RuntimeOptions = RuntimeOptions()) -> SkopsModel:
    """Load the verified ``skops`` package at ``path``."""
    del options  # scikit-learn's own threads are its estimators' n_jobs
    estimator = load_skops(path, manifest).estimator
    signature = declared_signature(manifest) or _derived_signature(estimator)
    if len(signature.inputs) != 1:
        raise InvalidInput(
            f"a scikit-learn model takes one feature matrix, but its signature names "
            f"{len(signature.inputs)} inputs: {signature.describe()}"
        )
    if not signature.outputs:
        signature = ModelSignature(
            signature.inputs, _derived_signature(estimator).outputs, signature.allow_nan
        )
    for spec in signature.outputs:
        if not callable(getattr(estimator, method_of(spec.name), None)):
            raise InvalidInput(
                f"output {spec.name!r} needs {type(estimator).__name__}.{method_of(spec.name)}, "
                "which it does not have"
            )
    return SkopsModel(estimator, signature)
