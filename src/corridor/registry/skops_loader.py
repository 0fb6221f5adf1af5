"""Load a ``skops`` package: a scikit-learn model in skops format (``model.skops``). Client only.

skops rebuilds objects from a schema instead of unpickling, and refuses any type it does not
trust unless told to. Corridor tells it to trust only what `untrusted_refusals` lets through:
types and functions of scikit-learn, NumPy and SciPy (without their file readers and writers),
and the builtins that are types (``range``, ``slice``; never ``eval`` or ``open``). Anything
else is refused, naming it, before skops builds a single object. ``skops`` is an optional
dependency (the ``training`` extra) and is imported when such a package is loaded.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from corridor.errors import InvalidInput
from corridor.registry.manifest import Manifest

TRUSTED_MODULES = ("sklearn", "numpy", "scipy")
# Names inside the trusted modules that read or write files or memory maps: a model that held
# one (in a FunctionTransformer, say) would do I/O when it predicts.
FILE_ACCESS = frozenset(
    {
        "load",
        "loads",
        "save",
        "savez",
        "savez_compressed",
        "savetxt",
        "loadtxt",
        "genfromtxt",
        "fromfile",
        "fromregex",
        "tofile",
        "memmap",
        "open",
        "DataSource",
        "loadmat",
        "savemat",
        "mmread",
        "mmwrite",
        "readsav",
        "netcdf_file",
    }
)


def _allowed(name: str) -> bool:
    module, _, attr = name.rpartition(".")
    top = module.split(".", 1)[0]
    if module == "builtins":
        return isinstance(getattr(builtins, attr, None), type) and attr != "type"
    return top in TRUSTED_MODULES and attr not in FILE_ACCESS


def untrusted_refusals(names: Iterable[str]) -> list[str]:
    """The names among ``names`` (skops' untrusted types) that Corridor will not load."""
    return sorted({name for name in names if not _allowed(name)})


class SkopsModel:
    """The loaded estimator; ``predict`` is its own."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, inputs: Any) -> Any:
        return self.estimator.predict(inputs)


def load_skops(path: Path, manifest: Manifest) -> SkopsModel:
    """The estimator in the package's entry file, if every type it needs is allowed."""
    import skops.io  # type: ignore[import-untyped]

    if manifest.entry is None:
        raise InvalidInput("a skops package needs its entry file (model.skops) in the manifest")
    entry = path / manifest.entry
    try:
        untrusted = skops.io.get_untrusted_types(file=entry)
    except Exception as exc:  # skops raises zipfile, JSON and its own errors for a bad file
        raise InvalidInput(f"{manifest.entry} is not a skops file: {exc}") from None
    refused = untrusted_refusals(untrusted)
    if refused:
        raise InvalidInput(
            f"{manifest.entry} needs types that are not scikit-learn, NumPy, SciPy or builtin "
            f"types, which Corridor does not load: {', '.join(refused)}"
        )
    estimator = skops.io.load(entry, trusted=list(untrusted))
    if not callable(getattr(estimator, "predict", None)):
        raise InvalidInput(f"the {type(estimator).__name__} in {manifest.entry} cannot predict")
    return SkopsModel(estimator)
