"""The environment part of a step's cache key: what the step's code runs with, besides its source.

A step computes the same output from the same code and inputs only on the same interpreter and
libraries, so the key holds (names sorted, values strings)::

    {"python": "3.11", "corridor": "0.1.0", "dist:numpy": "2.1.0", "dist:scikit-learn": "1.5.2",
     "env:SEED": "7"}

- ``python``: major.minor (a patch release does not change results worth a cache miss);
- ``corridor``: Corridor's version (its codec writes the outputs);
- ``dist:NAME``: the version of each installed distribution that provides a top-level module the
  step's module imports: its globals that are modules (``import numpy as np``) and the modules
  of the functions and classes it imported by name (``from sklearn.svm import SVC``), and, given
  the package ``root``, the same for every module of the package the step reaches (its helpers'
  imports count too). The standard library, Corridor and the user's own package are not
  distributions here: the first comes with ``python``, the others with their versions or their
  source (the code digest);
- ``env:NAME``: the step's ``env`` option values (the variables its job runs with).

Nothing here reads the filesystem beyond installed package metadata, once per process.
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path

import corridor
from corridor.pipelines.code_digest import reached_modules, unwrap_step


def environment_of(
    fn: Callable[..., object],
    env: Mapping[str, str] | None = None,
    *,
    root: Path | None = None,
) -> dict[str, str]:
    """The environment of the step function ``fn`` (a ``Step`` counts as its ``.fn``)."""
    fn = unwrap_step(fn)
    module_name = getattr(fn, "__module__", None)
    modules = [module_name] if isinstance(module_name, str) else []
    if root is not None:
        modules += [m for m in reached_modules(fn, root) if m not in modules]
    found: dict[str, str] = {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "corridor": corridor.__version__,
    }
    for top in sorted(_imported_tops(modules)):
        for dist in _distributions().get(top, ()):
            version = _version(dist)
            if version is not None:
                found[f"dist:{dist}"] = version
    for name, value in (env or {}).items():
        found[f"env:{name}"] = value
    return dict(sorted(found.items()))


def _imported_tops(module_names: Iterable[str]) -> set[str]:
    """The third-party top-level module names the given modules import."""
    tops: set[str] = set()
    own = {name.split(".")[0] for name in module_names}
    for name in module_names:
        module = sys.modules.get(name)
        if module is None:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, types.ModuleType):
                tops.add(value.__name__.split(".")[0])
            elif isinstance(value, type | types.FunctionType | types.BuiltinFunctionType):
                origin = getattr(value, "__module__", None)
                if isinstance(origin, str):
                    tops.add(origin.split(".")[0])
    return {
        top
        for top in tops
        if top not in own
        and top not in sys.stdlib_module_names
        and top not in ("builtins", "corridor", "__main__")
    }


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    """Top-level module name -> the distributions that provide it (slow to build: once)."""
    return {top: sorted(set(dists)) for top, dists in metadata.packages_distributions().items()}


@functools.cache
def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
