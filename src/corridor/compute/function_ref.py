"""A function named by module and qualified name, so a worker imports it rather than unpickling it.

A function job ships no code of its own: the code travels in the snapshot of the submitter's
working directory (or is already installed where the worker runs), and the job names the function
as ``module:qualname``. That keeps the server free of pickles and makes a job's code reviewable
(it is the snapshot), but only a function a fresh interpreter can import by that name can run:
top-level functions (and classes' static and class methods) of a module file under the snapshot
root, or of an installed package. Lambdas, nested functions and methods bound to an instance have
no such name and are refused at submit with the reason.

A function defined in the script being run (``python scripts/train.py``) has module ``__main__``;
it is named by the script's path under the root (``scripts.train``), which the worker imports as an
ordinary module, so the script's ``if __name__ == "__main__":`` block does not run again there.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from corridor.compute.sansio import payload, payload_datasets
from corridor.errors import InvalidInput

Source = Literal["snapshot", "installed"]
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# Where a snapshot's modules may sit: the root itself, or a src layout's ``src`` folder.
SOURCE_FOLDERS = ("", "src")


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """``module:qualname``, and whether the module comes from the snapshot or is installed."""

    module: str
    qualname: str
    source: Source = "snapshot"

    def __post_init__(self) -> None:
        if not _DOTTED.match(self.module) or not _DOTTED.match(self.qualname):
            raise InvalidInput(
                f"{self.module}:{self.qualname} is not a function reference "
                "(dotted Python names expected, e.g. mypkg.train:fit)"
            )
        if self.source not in ("snapshot", "installed"):
            raise InvalidInput(
                f"function source must be snapshot or installed, not {self.source!r}"
            )

    def __str__(self) -> str:
        return f"{self.module}:{self.qualname}"


def reference_of(fn: Callable[..., object], root: Path) -> FunctionRef:
    """The reference a worker imports ``fn`` by; InvalidInput saying why if it has none."""
    name = getattr(fn, "__qualname__", None)
    if isinstance(fn, functools.partial) or not isinstance(name, str):
        raise InvalidInput(
            f"{fn!r} is not a function defined at the top level of a module; "
            "pass such a function and send its arguments separately"
        )
    if inspect.ismethod(fn) and not inspect.isclass(fn.__self__):
        raise InvalidInput(
            f"{name} is a method bound to an instance, which cannot be sent; "
            "use a top-level function that builds what it needs from its arguments"
        )
    if getattr(fn, "__name__", "") == "<lambda>":
        raise InvalidInput("a lambda cannot be sent by reference; define a top-level function")
    if "<locals>" in name:
        raise InvalidInput(
            f"{name} is defined inside another function; move it to the top level of a module"
        )
    module_name = getattr(fn, "__module__", None)
    if not isinstance(module_name, str):
        raise InvalidInput(f"{name} has no module, so a worker cannot import it")
    root = root.resolve()
    if module_name == "__main__":
        return _main_reference(fn, name, root)
    module = sys.modules.get(module_name)
    # ``!=``, not ``is not``: a class method is a new bound object on every attribute access.
    if module is None or _lookup(module, name) != fn:
        raise InvalidInput(
            f"{module_name}:{name} does not name this function (was it redefined or wrapped "
            "without functools.wraps?)"
        )
    file = getattr(module, "__file__", None)
    if file is None:
        if module_name.split(".")[0] in sys.builtin_module_names:
            return FunctionRef(module_name, name, "installed")
        raise InvalidInput(f"module {module_name} has no file, so a worker cannot import {name}")
    path = Path(file).resolve()
    if _under_any(path, _installed_folders()):
        return FunctionRef(module_name, name, "installed")
    if _under_any(path, [root]):
        _check_layout(module_name, path, root)
        return FunctionRef(module_name, name, "snapshot")
    if module_name.split(".")[0] in metadata.packages_distributions():
        return FunctionRef(module_name, name, "installed")
    raise InvalidInput(
        f"{module_name}:{name} is not importable from the snapshot: its file {path} is outside "
        f"the snapshot root {root} and is not an installed package; submit from the project's "
        "folder (workdir=) or install the package"
    )


def _main_reference(fn: Callable[..., object], name: str, root: Path) -> FunctionRef:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    file = getattr(main, "__file__", None)
    if main is None or _lookup(main, name) != fn:
        raise InvalidInput(f"{name} is not a top-level function of the running script")
    if file is None:
        raise InvalidInput(
            f"{name} was defined in an interactive session; put it in a .py file under "
            f"{root} and import it from there"
        )
    path = Path(file).resolve()
    if not _under_any(path, [root]):
        raise InvalidInput(
            f"{name} is defined in the script {path}, which is outside the snapshot root {root}; "
            "run the script from inside the project folder or pass workdir="
        )
    # ``python -m pkg.mod`` knows its module name; ``python scripts/train.py`` only its path.
    module_name = getattr(spec, "name", None) or _module_for(path, root, "")
    if module_name is None:
        raise InvalidInput(
            f"the script {path} cannot be imported as a module from {root}: every folder and "
            "the file name must be Python identifiers"
        )
    _check_layout(module_name, path, root)
    return FunctionRef(module_name, name, "snapshot")


def _check_layout(module_name: str, path: Path, root: Path) -> None:
    """Refuse a module whose name does not follow from its path under a source folder of root."""
    for folder in SOURCE_FOLDERS:
        if _module_for(path, root, folder) == module_name:
            return
    raise InvalidInput(
        f"module {module_name} (file {path}) is not importable from the snapshot: a worker puts "
        f"{root} and its src folder on the import path, and this module is not at that name there"
    )


def _module_for(path: Path, root: Path, folder: str) -> str | None:
    base = root / folder if folder else root
    try:
        relative = path.relative_to(base)
    except ValueError:
        return None
    parts = list(relative.with_suffix("").parts)
    if relative.suffix != ".py" or not parts:
        return None
    if parts[-1] == "__init__":
        parts.pop()
    name = ".".join(parts)
    return name if parts and _DOTTED.match(name) else None


def _installed_folders() -> list[Path]:
    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    return [Path(paths[k]).resolve() for k in keys if k in paths]


def _under_any(path: Path, folders: list[Path]) -> bool:
    return any(path.is_relative_to(folder) for folder in folders)


def _lookup(module: object, qualname: str) -> object:
    target = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            return None
    return target


def resolve(ref: FunctionRef, workdir: Path | None) -> Callable[..., object]:
    """The function ``ref`` names, imported with the snapshot folder ``workdir`` first on sys.path.

    Importing runs the module's top-level code, as the submitter's own import did; a script's
    ``__main__`` block does not run because the module is imported under its own name.
    """
    if ref.source == "snapshot":
        if workdir is None:
            raise InvalidInput(f"{ref} comes from a snapshot, and the job has none")
        for folder in reversed(SOURCE_FOLDERS):
            entry = str((workdir / folder) if folder else workdir)
            if (workdir / folder).is_dir() and entry not in sys.path:
                sys.path.insert(0, entry)
        importlib.invalidate_caches()
    try:
        module = importlib.import_module(ref.module)
    except ImportError as exc:
        raise InvalidInput(f"cannot import module {ref.module} for {ref}: {exc}") from exc
    target = _lookup(module, ref.qualname)
    if target is None or not callable(target):
        raise InvalidInput(f"module {ref.module} has no function {ref.qualname}")
    return target


def invoke(
    fn: Callable[..., object],
    input_data: bytes | None,
    load_dataset: Callable[[str], object] | None = None,
) -> bytes:
    """Run a function job on its input payload and return its result payload.

    A call raises what ``fn`` raises (the job fails with its traceback). A map chunk runs ``fn``
    on each item and records each item's value or error, so one bad item fails only itself.
    ``load_dataset`` turns each ``DatasetInput`` into the table the job reads. A call's result
    tables are Arrow IPC, or Parquet when ``fn.payload_tables == "parquet"``.
    """
    job_input = payload.decode_input(input_data) if input_data is not None else payload.Call((), {})
    if load_dataset is not None:
        loaded = payload_datasets.replace_datasets(job_input, load_dataset)
        assert isinstance(loaded, payload.Call | payload.MapChunk)
        job_input = loaded
    if isinstance(job_input, payload.Call):
        # A function that keeps its result (a pipeline step's output) asks for Parquet tables.
        tables: payload.Tables = getattr(fn, "payload_tables", "arrow")
        result = fn(*job_input.args, **job_input.kwargs)
        return payload.encode(result, path="result", tables=tables)
    outcomes: list[payload.ItemOutcome] = []
    for item in job_input.items:
        try:
            outcomes.append((True, fn(item)))
        except Exception as exc:  # one item's failure is data for the caller, not the chunk's end
            outcomes.append(
                (False, payload.ItemError(type(exc).__name__, str(exc), traceback.format_exc()))
            )
    return payload.encode_map_results(outcomes, job_input.first_index)
