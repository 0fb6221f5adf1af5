"""`corridor models ls|show|alias` as users run them, over a local home."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from corridor import Client
from corridor.config import Settings
from corridor.home import init_home
from tests.conftest import run_cli
from tests.registry.conftest import make_files


def corridor(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(home, *args)


def ok(home: Path, *args: str) -> Any:
    done = corridor(home, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--json" in args else done.stdout


@pytest.fixture
def home_with_model(tmp_path: Path) -> Path:
    home = tmp_path / "cli-home"
    settings = Settings(home=home)
    init_home(settings)
    folder = make_files(tmp_path / "m", {"model.json": b'{"weights": [1.0], "bias": 0.0}'})
    with Client(settings=settings) as c:
        c.create_project("churn")
        for _ in range(2):
            c.register_model("churn/fraud", folder, flavour="corridor.linear")
    return home


def test_models_ls_show_and_alias(home_with_model: Path) -> None:
    home = home_with_model
    listed = ok(home, "models", "ls", "--json")
    assert [(m["name"], m["project"]) for m in listed] == [("churn/fraud", "churn")]
    assert "churn/fraud" in ok(home, "models", "ls", "--project", "churn")
    moved = ok(home, "models", "alias", "churn/fraud", "production", "1", "--json")
    assert (moved["version"], moved["aliases"]) == (1, ["production"])
    assert "churn/fraud@production -> version 2" in ok(
        home, "models", "alias", "churn/fraud", "production", "2"
    )
    shown = ok(home, "models", "show", "churn/fraud", "--json")
    assert shown["aliases"] == {"production": 2}
    assert [v["version"] for v in shown["versions"]] == [2, 1]
    table = ok(home, "models", "show", "fraud", "--project", "churn")
    assert "churn/fraud (project churn)" in table


def test_errors_are_one_line(home_with_model: Path) -> None:
    done = corridor(home_with_model, "models", "alias", "churn/fraud", "latest", "1")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert len(done.stderr.splitlines()) == 1
    missing = corridor(home_with_model, "models", "show", "churn/absent")
    assert missing.returncode == 1
    assert "not found" in missing.stderr
