"""Function references: which functions can be named for a worker, and importing them back."""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import corridor.compute.function_ref as function_ref_module
from corridor.compute.function_ref import FunctionRef, invoke, reference_of, resolve
from corridor.compute.sansio import payload
from corridor.errors import InvalidInput

TASKS = """
import functools

def double(x):
    return 2 * x

def fails_on_three(x):
    if x == 3:
        raise ValueError(f"three is bad")
    return x

def make_closure():
    def inner(x):
        return x
    return inner

class Model:
    def predict(self, x):
        return x

    @staticmethod
    def scale(x):
        return 10 * x

    @classmethod
    def build(cls, x):
        return x + 1

square = lambda x: x * x  # noqa: E731

def _wrap(fn):
    def wrapper(*args):
        return fn(*args)
    return wrapper

wrapped = functools.wraps(double)(_wrap(double))
nested = _wrap(double)
partial_double = functools.partial(double)
"""


def _project(root: Path, layout: str = "") -> tuple[str, Path]:
    """A package with TASKS under ``root`` (or ``root/src``), under a fresh name."""
    name = f"jobpkg_{uuid.uuid4().hex[:8]}"
    package = (root / layout / name) if layout else (root / name)
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(TASKS)
    return name, package


@pytest.fixture
def tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, Path]:
    name, _ = _project(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(f"{name}.tasks")
    return module, tmp_path


def test_a_top_level_function_under_the_root_comes_from_the_snapshot(
    tasks: tuple[ModuleType, Path],
) -> None:
    module, root = tasks
    ref = reference_of(module.double, root)
    assert ref == FunctionRef(module.__name__, "double", "snapshot")
    assert reference_of(module.Model.scale, root).qualname == "Model.scale"
    assert reference_of(module.Model.build, root).qualname == "Model.build"


def test_a_src_layout_module_is_named_by_its_package(tmp_path: Path) -> None:
    name, _ = _project(tmp_path, "src")
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        module = importlib.import_module(f"{name}.tasks")
        assert reference_of(module.double, tmp_path).module == f"{name}.tasks"
    finally:
        sys.path.remove(str(tmp_path / "src"))


@pytest.mark.parametrize(
    ("attribute", "needle"),
    [
        ("square", "a lambda cannot be sent"),
        ("partial_double", "not a function defined at the top level"),
        ("wrapped", "does not name this function"),
        ("nested", "defined inside another function"),
    ],
)
def test_functions_without_an_importable_name_are_refused(
    tasks: tuple[ModuleType, Path], attribute: str, needle: str
) -> None:
    module, root = tasks
    with pytest.raises(InvalidInput, match=needle):
        reference_of(getattr(module, attribute), root)


def test_nested_functions_and_bound_methods_are_refused(tasks: tuple[ModuleType, Path]) -> None:
    module, root = tasks
    with pytest.raises(InvalidInput, match="defined inside another function"):
        reference_of(module.make_closure(), root)
    with pytest.raises(InvalidInput, match="bound to an instance"):
        reference_of(module.Model().predict, root)
    with pytest.raises(InvalidInput, match="not a function defined at the top level"):
        reference_of(module.Model(), root)  # type: ignore[arg-type]


def test_a_module_outside_the_root_and_not_installed_is_not_importable(
    tasks: tuple[ModuleType, Path], tmp_path: Path
) -> None:
    module, _ = tasks
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(InvalidInput) as caught:
        reference_of(module.double, elsewhere)
    message = caught.value.message
    assert "is not importable from the snapshot" in message
    assert str(Path(module.__file__ or "").resolve()) in message
    assert str(elsewhere.resolve()) in message


def test_stdlib_and_installed_functions_are_installed(tmp_path: Path) -> None:
    assert reference_of(math.sqrt, tmp_path) == FunctionRef("math", "sqrt", "installed")
    assert reference_of(json.dumps, tmp_path).source == "installed"
    assert reference_of(np.sum, tmp_path) == FunctionRef("numpy", "sum", "installed")
    assert reference_of(len, tmp_path) == FunctionRef("builtins", "len", "installed")


def test_a_malformed_reference_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not a function reference"):
        FunctionRef("os; rm", "x")
    with pytest.raises(InvalidInput, match="snapshot or installed"):
        FunctionRef("a", "b", "pickle")  # type: ignore[arg-type]


def test_resolve_imports_from_the_workdir(tmp_path: Path) -> None:
    name, _ = _project(tmp_path)
    try:
        fn = resolve(FunctionRef(f"{name}.tasks", "Model.scale"), tmp_path)
        assert fn(2) == 20
    finally:
        sys.path.remove(str(tmp_path))
    with pytest.raises(InvalidInput, match="has no function"):
        resolve(FunctionRef(f"{name}.tasks", "missing"), tmp_path)
    with pytest.raises(InvalidInput, match="cannot import module"):
        resolve(FunctionRef("no_such_module_here", "f"), tmp_path)
    with pytest.raises(InvalidInput, match="the job has none"):
        resolve(FunctionRef(f"{name}.tasks", "double"), None)


def _run_script(root: Path, script: str, body: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = root / script
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, str(path)], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


SCRIPT = """
    import json, sys
    from pathlib import Path
    from corridor.compute.function_ref import reference_of
    from corridor.errors import InvalidInput

    def train(x):
        return x + 1

    if __name__ == "__main__":
        Path(sys.argv[0]).with_suffix(".ran").write_text("main ran")
        try:
            ref = reference_of(train, Path({root!r}))
            print(json.dumps([ref.module, ref.qualname, ref.source]))
        except InvalidInput as exc:
            print(exc.message)
"""


def test_a_script_function_is_named_by_its_path_and_its_main_block_stays_put(
    tmp_path: Path,
) -> None:
    root = tmp_path / "proj"
    done = _run_script(root, "scripts/train.py", SCRIPT.format(root=str(root)), cwd=root)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["scripts.train", "train", "snapshot"]
    (root / "scripts" / "train.ran").unlink()
    sys.modules.pop("scripts.train", None)
    sys.modules.pop("scripts", None)
    try:
        fn = resolve(FunctionRef("scripts.train", "train"), root)
        assert fn(1) == 2
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("scripts.train", None)
        sys.modules.pop("scripts", None)
    assert not (root / "scripts" / "train.ran").exists()


def test_a_script_outside_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    done = _run_script(tmp_path / "other", "train.py", SCRIPT.format(root=str(root)), cwd=root)
    assert done.returncode == 0, done.stderr
    assert "outside the snapshot root" in done.stdout
    assert str((tmp_path / "other" / "train.py").resolve()) in done.stdout


def _call(fn: Callable[..., object], data: bytes) -> object:
    return payload.decode(invoke(fn, data))


def test_invoke_runs_a_call_and_a_chunk_with_per_item_errors(
    tasks: tuple[ModuleType, Path],
) -> None:
    module, _ = tasks
    assert _call(module.double, payload.encode_call((np.arange(3),), {})).tolist() == [0, 2, 4]  # type: ignore[attr-defined]
    results = payload.decode_map_results(
        invoke(module.fails_on_three, payload.encode_map_chunk([1, 3, 5], 10))
    )
    assert results[0] == (True, 1)
    assert results[2] == (True, 5)
    ok, error = results[1]
    assert not ok
    assert isinstance(error, payload.ItemError)
    assert error.type == "ValueError"
    assert error.message == "three is bad"
    assert "fails_on_three" in error.traceback
    with pytest.raises(ValueError, match="three is bad"):
        invoke(module.fails_on_three, payload.encode_call((3,), {}))


def test_invoke_resolves_dataset_inputs_and_refuses_an_unsendable_result(
    tasks: tuple[ModuleType, Path],
) -> None:
    module, _ = tasks
    data = payload.encode_call((payload.DatasetInput("sales@3"),), {})
    assert payload.decode(invoke(module.double, data, lambda ref: ref)) == "sales@3sales@3"
    with pytest.raises(InvalidInput, match=r"result: a value of type .*Model cannot be sent"):
        invoke(module.Model, payload.encode_call((), {}))


def test_the_module_is_importable_without_heavy_libraries() -> None:
    assert function_ref_module.__name__ == "corridor.compute.function_ref"
    code = (
        "import sys\nimport corridor.compute.function_ref\n"
        "heavy = {'numpy', 'pyarrow', 'polars', 'sqlalchemy', 'fastapi'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
