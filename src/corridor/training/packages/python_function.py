"""The ``corridor.function`` flavour's package: a plain Python function, served like a model.

    function.json     {"function": "module:qualname", "code_root": "code"}  (the entry)
    code/pkg/mod.py   the function's module, at its module path, with its packages' __init__.py

The function takes ``{input name: ndarray}`` and returns ``{output name: ndarray}``, batched
along the first axis, and the package's signature names those tensors (a deployment checks
requests against it, and has nothing else to go by). Only the module's own file is packaged,
as for the ``torch`` flavour's factory: what it imports must be installed where it is served.
A function of an installed package is stored without ``code/`` (``code_root`` null). Loading
(`corridor.registry.function_loader`) imports it from ``code/``; nothing is pickled.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corridor.compute.function_ref import reference_of
from corridor.errors import InvalidInput
from corridor.registry.function_loader import CONFIG, FLAVOUR
from corridor.registry.manifest import Signature
from corridor.training.model_files import ModelFiles

if TYPE_CHECKING:
    from corridor.client.client import Client
    from corridor.registry.schemas import ModelVersionOut

CODE_ROOT = "code"
Function = Callable[[dict[str, Any]], Mapping[str, Any]]


def function_files(
    function: Function | str, *, signature: Signature | Mapping[str, Any], root: Path
) -> ModelFiles:
    """The package of ``function`` (a top-level function, or ``"module:qualname"`` of a module
    under ``root``, the folder the module's import path starts from)."""
    from corridor.training.packages.torch_package import module_files

    if isinstance(function, str):
        ref = function
    else:
        found = reference_of(function, root)
        ref = f"{found.module}:{found.qualname}"
    module, _, qualname = ref.partition(":")
    if not module or not qualname:
        raise InvalidInput(f"function {ref!r} is not module:qualname")
    checked = Signature.model_validate(signature)
    if checked.inputs.kind != "tensors" or checked.outputs is None:
        raise InvalidInput(
            "a function package needs a tensor signature with inputs and outputs: it is what "
            "requests are checked against"
        )
    sources = module_files(module, root.resolve())
    files = {f"{CODE_ROOT}/{rel}": source.read_bytes() for source, rel in sources}
    config = {"function": ref, "code_root": CODE_ROOT if sources else None}
    files[CONFIG] = (json.dumps(config, sort_keys=True) + "\n").encode()
    return ModelFiles(files=files, flavour=FLAVOUR, entry=CONFIG, signature=checked)


def register_function(
    client: Client,
    name: str,
    function: Function | str,
    *,
    signature: Signature | Mapping[str, Any],
    root: str | Path = ".",
    project: str | None = None,
    alias: str | None = None,
    description: str = "",
) -> ModelVersionOut:
    """Register ``function`` as the next version of model ``name`` (in ``project``, or the
    project ``default`` for a new bare name); set ``alias`` to it if given."""
    package = function_files(function, signature=signature, root=Path(root))
    with tempfile.TemporaryDirectory(prefix="corridor-package-") as folder:
        package.write(Path(folder))
        version = client.registry.register_model(
            name,
            folder,
            flavour=package.flavour,
            project=project,
            entry=package.entry,
            signature=package.signature,
            description=description,
        )
    if alias is not None:
        version = client.registry.set_alias(
            version.name, alias, version.version, project=version.project
        )
    return version
