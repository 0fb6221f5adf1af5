"""Shared worlds of the pipelines tests: one live server per test worker, and pipeline files
written into fresh importable folders.

A live server (with its scheduler, workers and the pipelines loop) costs seconds to start, so the
tests of this folder share one per xdist worker; each test works in a project of its own
(``project`` fixture) so that runs, caches and step runs of one test never meet another's.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from corridor.client.client import Client
from corridor.config import Settings
from tests.conftest import LiveServer, module_server


@pytest.fixture(scope="session")
def pipelines_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real `corridor server` (SQLite, the default local site) for the folder's tests.

    With the default request limit (16 MiB): a map chunk's step entries are begun in one
    request, so the suite's 64 KiB limit would cut a 1,000-item map into dozens of jobs."""
    with module_server(tmp_path_factory, "pipelines", max_body_bytes=16 * 1024 * 1024) as live:
        yield live


@pytest.fixture(scope="session")
def admin_client(pipelines_server: LiveServer) -> Iterator[Client]:
    """An SDK client of the server's first admin (over HTTP)."""
    settings = Settings(home=pipelines_server.home)
    with Client(pipelines_server.url, token=pipelines_server.token, settings=settings) as c:
        yield c


@pytest.fixture
def project(admin_client: Client) -> str:
    """A fresh project of the admin's, for one test."""
    name = f"p-{uuid.uuid4().hex[:10]}"
    admin_client.create_project(name)
    return name


WriteModule = Callable[[str], ModuleType]


@pytest.fixture
def pipeline_module(tmp_path: Path) -> Iterator[WriteModule]:
    """Write a pipeline file into a fresh package folder and import it.

    ``pipeline_module(source)`` writes ``source`` (dedented) as ``<pkg>/flow.py`` under a new
    folder on ``sys.path`` (a package with a unique name, so modules of different tests never
    collide in ``sys.modules``) and returns the imported module. ``module.__file__`` gives the
    file; its folder's parent is the work folder whose snapshot jobs run.
    """
    root = tmp_path / "work"
    root.mkdir()
    added: list[str] = []

    def write(source: str, *, name: str = "flow") -> ModuleType:
        package = f"pipes_{uuid.uuid4().hex[:10]}"
        folder = root / package
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
            added.append(str(root))
        importlib.invalidate_caches()
        return importlib.import_module(f"{package}.{name}")

    yield write
    for path in added:
        sys.path.remove(path)
