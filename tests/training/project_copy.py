"""A test project's package copied under a fresh name and made importable, for jobs that
import their factories or objectives from the code snapshot of the folder it lies in."""

from __future__ import annotations

import importlib
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType


@contextmanager
def copied_package(package: Path, root: Path, module: str) -> Iterator[tuple[Path, ModuleType]]:
    """Copy ``package`` into ``root`` as ``<name>_<random>``; yield ``root`` and its ``module``.

    The fresh name keeps one module's copy from shadowing another's in this process."""
    name = f"{package.name}_{uuid.uuid4().hex[:8]}"
    shutil.copytree(package, root / name)
    sys.path.insert(0, str(root))
    try:
        yield root, importlib.import_module(f"{name}.{module}")
    finally:
        sys.path.remove(str(root))
