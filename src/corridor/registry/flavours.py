"""The one table of model flavours Corridor knows, and which of them are pickle-based. No I/O.

The server stores every flavour and never loads any model. What this table decides is what
Corridor's loaders may do: a pickle-based flavour runs arbitrary code when loaded, so it is
loaded only from a project whose server admin allows pickle (the project's pickle switch), and
registered through Corridor's API only into such a project (`corridor.registry.pickle_rule`).
A flavour that is not listed is treated as pickle-based, since nothing says it is not.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavour:
    name: str
    pickle: bool
    description: str


FLAVOURS: dict[str, Flavour] = {
    f.name: f
    for f in (
        Flavour("corridor.linear", False, "a linear model as JSON: weights and bias"),
        Flavour(
            "corridor.function",
            False,
            "a Python function over named arrays, with its module's source code",
        ),
        Flavour("onnx", False, "an ONNX graph, run by onnxruntime on the CPU"),
        Flavour("skops", False, "a scikit-learn model in skops format (types are checked)"),
        Flavour("safetensors", False, "tensors in safetensors format"),
        Flavour("torch", False, "a PyTorch module: safetensors weights and its factory's code"),
        Flavour(
            "sentence_transformers",
            False,
            "a sentence-transformers model folder (safetensors weights, JSON configs)",
        ),
        Flavour("sklearn", True, "a pickled scikit-learn estimator"),
        Flavour("pickle", True, "any pickled Python object"),
        Flavour("cloudpickle", True, "a cloudpickled Python object"),
        Flavour("joblib", True, "a joblib dump (pickle inside)"),
        Flavour("python_function", True, "MLflow pyfunc: a cloudpickled Python model"),
        Flavour("pytorch", True, "torch.save output (pickle inside)"),
        Flavour(
            "mlflow", True, "an MLflow model folder as MLflow clients log it (may cloudpickle)"
        ),
    )
}


def is_pickle_based(flavour: str) -> bool:
    """Whether loading ``flavour`` may unpickle (unknown flavours are assumed to)."""
    known = FLAVOURS.get(flavour)
    return known is None or known.pickle
