"""The ``corridor.function`` flavour's loader: a Python function over named arrays, imported
from the package's own code. Nothing is unpickled.

    function.json     {"function": "module:qualname", "code_root": "code"}  (the entry)
    code/pkg/mod.py   the function's module, at its module path, with its packages' __init__.py

The function takes ``{input name: ndarray}`` and returns ``{output name: ndarray}``, each array
batched along its first axis. It is imported the way the ``torch`` flavour imports its factory
(`corridor.registry.package_code`). A
function of an installed package is stored without ``code/`` (``code_root`` null) and must be
installed where the model is loaded. Its module's top-level code runs when it is loaded, as
importing any module does: the package signature is verified before that.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from corridor.errors import InvalidInput
from corridor.registry.manifest import Manifest
from corridor.registry.package_code import import_from_package

FLAVOUR = "corridor.function"
CONFIG = "function.json"


class FunctionModel:
    """``predict({name: array}) -> {name: array}`` through the package's function."""

    def __init__(self, function: Callable[[dict[str, Any]], Any], ref: str) -> None:
        self.function = function
        self.ref = ref

    def predict(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(inputs, Mapping):
            raise InvalidInput(f"{self.ref} takes {{input name: array}}, not {type(inputs)}")
        result = self.function({str(k): np.asarray(v) for k, v in inputs.items()})
        if not isinstance(result, Mapping):
            raise InvalidInput(
                f"{self.ref} returned a {type(result).__name__}, not {{output name: array}}"
            )
        return {str(k): v for k, v in result.items()}


def load_function(path: Path, manifest: Manifest) -> FunctionModel:
    """Import the function of the ``corridor.function`` package downloaded to ``path``."""
    config_file = path / (manifest.entry or CONFIG)
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        ref = str(config["function"])
        code_root = config.get("code_root")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"the function package has no readable {CONFIG}: {exc}") from None
    try:
        function = import_from_package(path, ref, code_root, config=CONFIG, what="function")
    except ImportError as exc:
        raise InvalidInput(f"the package's code cannot import {ref}: {exc}") from None
    return FunctionModel(function, ref)
