"""The ``torch`` flavour's package: a folder the registry stores as it stores any package.

    model.safetensors     the state_dict (the manifest's entry)
    torch-model.json      {"factory": "module:qualname", "kwargs": {...}, "code_root": "code"}
    code/pkg/mod.py       the source of the factory's module, at its module path, with the
                          ``__init__.py`` of each package above it

Loading (``corridor.registry.torch_loader``) imports the factory from ``code/``, calls it with
the kwargs and loads the weights strictly, so nothing in the package is unpickled. A factory of
an installed package (not the caller's code) is stored without ``code/`` (``code_root`` null)
and must be installed where the model is loaded.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from corridor.compute.function_ref import SOURCE_FOLDERS
from corridor.errors import InvalidInput

ENTRY = "model.safetensors"
CONFIG = "torch-model.json"
CODE_ROOT = "code"


@dataclass(frozen=True)
class TorchPackage:
    folder: Path
    entry: str
    requirements: list[str]


def module_files(module: str, root: Path) -> list[tuple[Path, str]]:
    """The module's source file and its packages' ``__init__.py`` files under ``root`` (or its
    ``src`` folder), as (file, path inside the package's code folder); [] if not there."""
    parts = module.split(".")
    for folder in SOURCE_FOLDERS:
        base = root / folder if folder else root
        as_file = base.joinpath(*parts).with_suffix(".py")
        as_package = base.joinpath(*parts, "__init__.py")
        found = as_file if as_file.is_file() else as_package if as_package.is_file() else None
        if found is None:
            continue
        files = [(found, found.relative_to(base).as_posix())]
        for depth in range(1, len(parts)):
            init = base.joinpath(*parts[:depth], "__init__.py")
            if init.is_file():
                files.append((init, init.relative_to(base).as_posix()))
        return files
    return []


def build_package(
    folder: Path,
    weights: Mapping[str, torch.Tensor],
    *,
    factory: str,
    kwargs: Mapping[str, Any],
    root: Path,
) -> TorchPackage:
    """Write the package of ``weights`` built by ``factory(**kwargs)`` into ``folder``."""
    module = factory.partition(":")[0]
    try:
        config_text = json.dumps(
            {"factory": factory, "kwargs": dict(kwargs), "code_root": CODE_ROOT}, sort_keys=True
        )
    except TypeError as exc:
        raise InvalidInput(f"the model factory's kwargs must be JSON values: {exc}") from None
    files = module_files(module, root)
    if not files:
        config_text = json.dumps(
            {"factory": factory, "kwargs": dict(kwargs), "code_root": None}, sort_keys=True
        )
    for source, relative in files:
        target = folder / CODE_ROOT / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    (folder / CONFIG).write_text(config_text + "\n", encoding="utf-8")
    # safetensors refuses views and shared storage; each tensor is written as its own copy.
    save_file({k: v.detach().to("cpu").contiguous().clone() for k, v in weights.items()},
              str(folder / ENTRY))  # fmt: skip
    version = torch.__version__.split("+")[0]
    return TorchPackage(folder, ENTRY, [f"torch>={version}", "safetensors", "numpy"])
