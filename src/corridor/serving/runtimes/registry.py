"""The one table of serving backends, by package flavour, and the one way to load a package.

`load_served_model` is what every replica runs, in whatever process it lives:

1. the package folder is verified against its signature with the trusted public keys before a
   byte of it is read (`corridor.registry.package_signing.verify_before_loading`): an unsigned,
   tampered or unknown-key package raises `SignatureInvalid`;
2. a pickle-based flavour is refused, always: serving unpickles nothing, whatever a project's
   pickle switch says (that switch is for a person loading a model in their own program);
3. a package of a safe flavour holding pickle data is refused
   (`corridor.registry.pickle_data.refuse_pickle_files`);
4. the flavour's backend, imported by name only now (so serving an ONNX model never imports
   torch), loads the folder into a `ServedModel`.

The backends reuse the registry's loaders (`corridor.registry.*_loader`), which check what
each format can smuggle in (skops' types, sentence-transformers' module types).

Loads that import a package's own code (`CODE_FLAVOURS`) run one at a time in a process: the
loader puts the package's code folder first on ``sys.path`` and takes the module's top-level
name out of ``sys.modules`` while it imports, so two versions of one model (a canary and its
stable version, both ``mlp_model:make_model``) loaded at once on two threads could otherwise
import each other's code. Other loads run concurrently.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from corridor.errors import InvalidInput
from corridor.registry.flavours import is_pickle_based
from corridor.registry.manifest import Manifest
from corridor.registry.package_signing import verify_before_loading
from corridor.registry.pickle_data import refuse_pickle_files
from corridor.serving.runtimes.base import RuntimeBackend, RuntimeOptions, ServedModel

_HERE = "corridor.serving.runtimes"

BACKENDS: dict[str, str] = {
    "torch": f"{_HERE}.torch_backend:load",
    "onnx": f"{_HERE}.onnx_backend:load",
    "skops": f"{_HERE}.skops_backend:load",
    "sentence_transformers": f"{_HERE}.embeddings_backend:load",
    "corridor.function": f"{_HERE}.function_backend:load",
    "corridor.linear": f"{_HERE}.linear_backend:load",
}
"""Flavour -> ``module:function`` of the backend that serves it."""

CODE_FLAVOURS = frozenset({"torch", "corridor.function"})
"""Flavours whose loading imports Python code from the package."""
_CODE_IMPORT = threading.Lock()
DEVICE_FLAVOURS = frozenset({"torch", "sentence_transformers"})
"""Flavours that compute on a device other than the CPU when `RuntimeOptions.device` says so."""


def servable_flavours() -> frozenset[str]:
    """The flavours a deployment can serve (for checks made before anything is loaded)."""
    return frozenset(BACKENDS)


def backend_for(flavour: str) -> RuntimeBackend:
    """The backend serving ``flavour``; `InvalidInput` naming the flavours served if none."""
    ref = BACKENDS.get(flavour)
    if ref is None:
        known = ", ".join(sorted(BACKENDS))
        raise InvalidInput(
            f"flavour {flavour!r} cannot be served; a deployment serves {known}. Register the "
            "model in one of these flavours"
        )
    module_name, _, attr = ref.partition(":")
    return cast(RuntimeBackend, getattr(importlib.import_module(module_name), attr))


def refuse_pickle_flavour(flavour: str) -> None:
    """Refuse a pickle-based (or unknown) flavour: serving never unpickles."""
    if is_pickle_based(flavour):
        raise InvalidInput(
            f"flavour {flavour!r} is pickle-based (or unknown): loading it would unpickle, "
            "which runs code from the package, and nothing is unpickled in serving. Register "
            "the model as ONNX, skops, safetensors/torch, sentence_transformers or a Python "
            "function (corridor.function) to serve it"
        )


def load_served_model(
    path: Path,
    manifest: Manifest,
    *,
    public_keys: Iterable[bytes],
    options: RuntimeOptions | None = None,
) -> ServedModel:
    """Verify the package folder at ``path`` with ``public_keys`` (PEM: the server's signing
    keys), then load it with its flavour's backend.

    Raises `SignatureInvalid` (unsigned, tampered, untrusted key, or ``manifest`` is not the
    signed one), `InvalidInput` (pickle, a flavour with no backend, a package its backend
    cannot load).
    """
    verify_before_loading(path, manifest, public_keys)
    refuse_pickle_flavour(manifest.flavour)
    refuse_pickle_files(path, manifest.flavour, manifest.files)
    backend = backend_for(manifest.flavour)
    options = options or RuntimeOptions()
    if options.device != "cpu" and manifest.flavour not in DEVICE_FLAVOURS:
        raise InvalidInput(
            f"flavour {manifest.flavour!r} computes on the CPU only, not on {options.device!r}; "
            f"{', '.join(sorted(DEVICE_FLAVOURS))} models can use another device"
        )
    if manifest.flavour in CODE_FLAVOURS:
        with _CODE_IMPORT:
            return backend(path, manifest, options)
    return backend(path, manifest, options)
