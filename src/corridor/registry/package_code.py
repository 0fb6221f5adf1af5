"""Import a callable (``module:qualname``) from a model package's own code folder.

The ``torch`` flavour's factory and the ``corridor.function`` flavour's function both live in
the package, under its ``code_root``. The folder goes first on ``sys.path`` for the import and
the module's top-level package is taken out of ``sys.modules`` meanwhile, then both are put
back as they were: loading a model neither picks up nor leaves behind a module of the same
name. Without a ``code_root`` the module must be installed where the model is loaded.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corridor.errors import InvalidInput


def import_from_package(
    package: Path, ref: str, code_root: object, *, config: str, what: str
) -> Callable[..., Any]:
    """The callable ``ref`` names, imported from ``package / code_root`` (or from what is
    installed, when ``code_root`` is empty). ``config`` (the file that named it) and ``what``
    (``factory``, ``function``) word the errors."""
    module_name, _, qualname = ref.partition(":")
    if not module_name or not qualname:
        raise InvalidInput(f"{config}: {what} {ref!r} is not module:qualname")
    code = (package / str(code_root)).resolve() if code_root else None
    if code is not None and not code.is_relative_to(package.resolve()):
        raise InvalidInput(f"{config}: code_root {code_root!r} is outside the package")
    module = _import(module_name, code)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        raise InvalidInput(f"the package's code has no {what} {ref}")
    return target  # type: ignore[no-any-return]


def _import(module_name: str, code: Path | None) -> object:
    if code is None:
        return importlib.import_module(module_name)
    top = module_name.split(".")[0]
    saved = {k: v for k, v in sys.modules.items() if k == top or k.startswith(f"{top}.")}
    for key in saved:
        del sys.modules[key]
    sys.path.insert(0, str(code))
    importlib.invalidate_caches()
    try:
        return importlib.import_module(module_name)
    finally:
        sys.path.remove(str(code))
        for key in [k for k in sys.modules if k == top or k.startswith(f"{top}.")]:
            del sys.modules[key]
        sys.modules.update(saved)
