"""`corridor run` and `corridor pipelines ...`: importing a pipeline file (no server), then the
commands against the folder's live server, in-process (`run_cli`), with output that is not a
terminal (so `corridor run` prints plain lines)."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from corridor.errors import InvalidInput, NotFound
from corridor.pipelines.pipeline_files import load_pipeline_file, module_name_of, root_folder
from tests.conftest import run_cli

TWO = """
from corridor.pipelines import pipeline, step

@step(in_process=True)
def double(n: int) -> int:
    return 2 * n

@pipeline
def first(n: int = 1) -> int:
    return double(n)

@pipeline(name="second")
def other(n: int = 2) -> int:
    return double(n)
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh work folder as the current folder; sys.path as it was afterwards."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return folder


def write(folder: Path, relative: str, source: str) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def unique() -> str:
    return f"pf_{uuid.uuid4().hex[:10]}"


def test_a_file_under_the_current_folder_is_named_from_it(work: Path) -> None:
    package = unique()
    write(work, f"{package}/__init__.py", "")
    path = write(work, f"{package}/flows/etl.py", TWO)
    assert root_folder(path, work) == work
    loaded = load_pipeline_file(Path(f"{package}/flows/etl.py"))
    assert loaded.root == work.resolve()
    assert loaded.module_name == f"{package}.flows.etl"
    assert [p.name for p in loaded.pipelines] == ["first", "second"]
    assert loaded.choose("second").name == "second"


def test_a_file_outside_the_current_folder_is_named_from_its_own_folder(
    work: Path, tmp_path: Path
) -> None:
    name = unique()
    path = write(tmp_path / "elsewhere", f"{name}.py", TWO)
    assert root_folder(path, work) == path.parent.resolve()
    assert load_pipeline_file(path).module_name == name


def test_a_src_layout_file_is_named_without_src(work: Path) -> None:
    path = write(work, "src/pkg/flow.py", "")
    assert module_name_of(path, work) == ("pkg.flow", (work / "src").resolve())


def test_several_pipelines_need_a_name_and_an_unknown_name_lists_them(work: Path) -> None:
    loaded = load_pipeline_file(write(work, f"{unique()}.py", TWO))
    with pytest.raises(InvalidInput, match=r"2 pipelines \(first, second\).*--pipeline NAME"):
        loaded.choose(None)
    with pytest.raises(NotFound, match="has no pipeline 'third'; it has: first, second"):
        loaded.choose("third")


def test_a_file_without_a_pipeline_says_how_to_make_one(work: Path) -> None:
    loaded = load_pipeline_file(write(work, f"{unique()}.py", "x = 1\n"))
    with pytest.raises(InvalidInput, match="defines no pipeline: decorate a function"):
        loaded.choose(None)


def test_a_pipeline_imported_from_elsewhere_is_not_the_files_own(work: Path) -> None:
    lib = unique()
    write(work, f"{lib}.py", TWO)
    loaded = load_pipeline_file(
        write(
            work,
            f"{unique()}.py",
            f"""
            from corridor.pipelines import pipeline
            from {lib} import first

            @pipeline
            def mine() -> int:
                return 1
            """,
        )
    )
    assert [p.name for p in loaded.pipelines] == ["mine"]


def test_a_file_whose_name_is_taken_by_an_installed_module_is_refused(work: Path) -> None:
    with pytest.raises(InvalidInput, match=r"would be imported as module 'json'.*rename the file"):
        load_pipeline_file(write(work, "json.py", TWO))


def test_an_import_that_fails_shows_the_files_own_traceback(work: Path) -> None:
    path = write(work, f"{unique()}.py", "import math\n\nmath.nope()\n")
    with pytest.raises(InvalidInput) as caught:
        load_pipeline_file(path)
    message = caught.value.message
    assert "importing the pipeline file" in message
    assert f'File "{path.resolve()}", line 3' in message
    assert "AttributeError" in message
    assert "importlib" not in message


def test_a_missing_file_says_corridor_run_is_not_corridor_runs(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "home", "run", "nope.py")
    assert result.returncode == 1
    assert "no pipeline file 'nope.py'" in result.stderr
    assert "tracking runs are under 'corridor runs'" in result.stderr


def test_a_wrongly_typed_parameter_exits_naming_it_before_anything_runs(work: Path) -> None:
    path = write(work, f"{unique()}.py", TWO)
    result = run_cli(work / "home", "run", str(path), "--pipeline", "first", "--param", "n=abc")
    assert result.returncode == 1
    assert "parameter 'n' must be an int, got 'abc'" in result.stderr


def test_the_pipelines_group_lists_its_commands(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "home", "pipelines", "--help")
    assert result.returncode == 0
    for command in ("ls", "runs", "show", "retry", "schedule", "trigger", "start", "logs"):
        assert command in result.stdout


def _unused() -> None:  # keeps json imported for the live tests below
    json.dumps(None)
