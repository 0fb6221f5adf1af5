"""The ``torch`` flavour's loader: rebuild the model from the package's own code, load its
weights from safetensors, and predict under ``no_grad``. Nothing is unpickled.

The factory is imported from the package's ``code/`` folder, never from the caller's import
path first (`corridor.registry.package_code`): that folder goes first on ``sys.path`` and the
factory's top-level package is taken out of ``sys.modules`` for the import, then both are put
back as they were, so loading a model neither picks up nor leaves behind a module of the same
name. The weights are loaded with ``strict=True``: a key missing or extra is an error, not a
half-loaded model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from corridor.errors import InvalidInput
from corridor.registry.manifest import Manifest
from corridor.registry.package_code import import_from_package

CONFIG = "torch-model.json"


class TorchPredictor:
    """A loaded torch model: ``predict`` takes arrays or tensors and returns numpy arrays."""

    def __init__(self, model: Any, input_names: list[str]) -> None:
        self.model = model
        self.input_names = input_names

    def predict(self, inputs: Any) -> Any:
        """``inputs``: an array or tensor, or ``{name: array}``; the output as an ndarray (a
        dict or tuple of them when the model returns several)."""
        import numpy as np
        import torch

        def tensor(value: Any) -> Any:
            return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))

        with torch.no_grad():
            if isinstance(inputs, Mapping):
                if len(inputs) == 1:
                    output = self.model(tensor(next(iter(inputs.values()))))
                else:
                    output = self.model(**{k: tensor(v) for k, v in inputs.items()})
            else:
                output = self.model(tensor(inputs))
        return _numpy(output)


def _numpy(output: Any) -> Any:
    import torch

    if isinstance(output, torch.Tensor):
        return output.detach().to("cpu").numpy()
    if isinstance(output, Mapping):
        return {k: _numpy(v) for k, v in output.items()}
    if isinstance(output, tuple | list):
        return type(output)(_numpy(v) for v in output)
    return output


def load_torch(path: Path, manifest: Manifest) -> TorchPredictor:
    """Load a ``torch`` package downloaded to ``path``."""
    from safetensors.torch import load_file

    try:
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        factory_ref = str(config["factory"])
        kwargs = dict(config.get("kwargs") or {})
        code_root = config.get("code_root")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"the torch package has no readable {CONFIG}: {exc}") from None
    factory = import_from_package(path, factory_ref, code_root, config=CONFIG, what="factory")
    model = factory(**kwargs)
    entry = path / (manifest.entry or "model.safetensors")
    try:
        model.load_state_dict(load_file(str(entry)), strict=True)
    except RuntimeError as exc:
        raise InvalidInput(f"the package's weights do not fit {factory_ref}: {exc}") from None
    model.eval()
    names = []
    signature = manifest.signature
    if signature is not None and getattr(signature.inputs, "kind", "") == "tensors":
        names = [t.name or "input" for t in signature.inputs.tensors]  # type: ignore[union-attr]
    return TorchPredictor(model, names)
