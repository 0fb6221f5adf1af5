"""Running a script of examples/ as a user runs it: a child process over a new local home."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from corridor.client.client import Client
from corridor.config import Settings
from corridor.home import init_home
from tests.conftest import clean_env

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ExampleRun:
    home: Path
    done: subprocess.CompletedProcess[str]

    def client(self) -> Client:
        return Client(settings=Settings(home=self.home))


def run_example(factory: pytest.TempPathFactory, script: str) -> ExampleRun:
    """Run ``examples/<script>`` from the checkout's root with only a fresh home set."""
    base = factory.mktemp(Path(script).stem)
    home = base / "home"
    with clean_env():
        init_home(Settings(home=home))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRIDOR_")}
    env.update({"CORRIDOR_HOME": str(home), "TMPDIR": str(base)})
    done = subprocess.run(
        [sys.executable, f"examples/{script}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=540,
        check=False,
    )
    return ExampleRun(home, done)
