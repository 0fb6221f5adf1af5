"""Import a pipeline file (``corridor run flows/etl.py``) and find the pipelines it defines.

The file is imported as a module, under the dotted name of its path from a *root folder*: the
current folder when the file lies under it, else the file's own folder. That is the name compute's
function references use (`corridor.compute.function_ref`), so a step job on a worker, which
unpacks the root folder's snapshot and imports ``module:qualname``, finds the very functions this
process imported. A file under the root's ``src`` folder is named from there (a src layout), as
workers put both the root and its ``src`` folder on the import path.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from corridor.compute.function_ref import SOURCE_FOLDERS, _module_for
from corridor.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from corridor.pipelines.dsl import Pipeline


@dataclass(frozen=True)
class PipelineFile:
    """An imported pipeline file: where it was imported from, and the pipelines it holds."""

    path: Path
    root: Path
    module_name: str
    module: ModuleType
    pipelines: tuple[Pipeline, ...]

    def choose(self, name: str | None) -> Pipeline:
        """The one pipeline of the file, or the one named ``name``; InvalidInput saying which
        names there are when that is not one pipeline."""
        names = [p.name for p in self.pipelines]
        if name is not None:
            for found in self.pipelines:
                if found.name == name:
                    return found
            raise NotFound(
                f"{self.path} has no pipeline {name!r}; it has: " + ", ".join(names)
                if names
                else f"{self.path} has no pipeline {name!r} (it defines no @pipeline function)"
            )
        if not self.pipelines:
            raise InvalidInput(
                f"{self.path} defines no pipeline: decorate a function with @pipeline "
                "(from corridor.pipelines import pipeline)"
            )
        if len(self.pipelines) > 1:
            raise InvalidInput(
                f"{self.path} defines {len(names)} pipelines ({', '.join(names)}): "
                "choose one with --pipeline NAME"
            )
        return self.pipelines[0]


def root_folder(path: Path, cwd: Path) -> Path:
    """The folder a pipeline file's module name is taken from (and whose snapshot jobs run)."""
    path, cwd = path.resolve(), cwd.resolve()
    return cwd if path.is_relative_to(cwd) else path.parent


def module_name_of(path: Path, root: Path) -> tuple[str, Path]:
    """The dotted module name of ``path`` under ``root``, and the folder that goes on sys.path."""
    path, root = path.resolve(), root.resolve()
    # A src layout first: ``src/pkg/flow.py`` is ``pkg.flow``, not ``src.pkg.flow``.
    for folder in sorted(SOURCE_FOLDERS, reverse=True):
        name = _module_for(path, root, folder)
        if name is not None:
            return name, (root / folder if folder else root)
    raise InvalidInput(
        f"the pipeline file {path} cannot be imported as a module from {root}: every folder "
        "between them and the file name must be Python identifiers (letters, digits, _)"
    )


def load_pipeline_file(path: Path, *, cwd: Path | None = None) -> PipelineFile:
    """Import the pipeline file at ``path`` and collect its ``@pipeline`` objects.

    Importing runs the file's top-level code, as ``python -c "import flows.etl"`` would; its
    ``if __name__ == "__main__":`` block does not run.
    """
    if not path.is_file():
        raise NotFound(
            f"no pipeline file '{path}' (corridor run runs a pipeline file; "
            "tracking runs are under 'corridor runs')"
        )
    if path.suffix != ".py":
        raise InvalidInput(f"{path} is not a Python file: give the .py file of the pipeline")
    root = root_folder(path, cwd or Path.cwd())
    name, import_folder = module_name_of(path, root)
    module = _import(name, path.resolve(), import_folder)
    return PipelineFile(path, root, name, module, _pipelines_in(module))


def _import(name: str, path: Path, folder: Path) -> ModuleType:
    entry = str(folder)
    if entry not in sys.path:
        sys.path.insert(0, entry)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # the user's code: show where it broke, not our frames
        trace = _user_traceback(exc, path)
        raise InvalidInput(f"importing the pipeline file {path} failed:\n{trace.rstrip()}") from exc
    file = getattr(module, "__file__", None)
    if file is None or Path(file).resolve() != path:
        where = f"the module at {file}" if file else "a module with no file"
        raise InvalidInput(
            f"the pipeline file {path} would be imported as module {name!r}, but that name is "
            f"already {where}; rename the file or its folder"
        )
    return module


def _user_traceback(exc: BaseException, path: Path) -> str:
    """The traceback of an import that failed, from the pipeline file's first frame on (the
    import machinery's frames above it say nothing to its author)."""
    shown = traceback.TracebackException.from_exception(exc)
    files = [f.filename for f in shown.stack]
    start = files.index(str(path)) if str(path) in files else len(files)
    shown.stack = traceback.StackSummary.from_list(list(shown.stack)[start:])
    return "".join(shown.format())


def _pipelines_in(module: ModuleType) -> tuple[Pipeline, ...]:
    """The module's pipelines, those defined in it when any are (not ones it imported)."""
    from corridor.pipelines.dsl import Pipeline

    found: list[Pipeline] = []
    for value in vars(module).values():
        if isinstance(value, Pipeline) and all(value is not seen for seen in found):
            found.append(value)
    own = [p for p in found if _defined_in(p, module.__name__)]
    return tuple(own or found)


def _defined_in(pipeline: Pipeline, module_name: str) -> bool:
    fn = getattr(pipeline, "fn", None)
    return getattr(fn, "__module__", None) == module_name
