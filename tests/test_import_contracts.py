"""The dependency direction holds: the import contracts in pyproject.toml are all kept.

`lint-imports` reads `[tool.importlinter]` and checks the whole package's import graph in well
under a second; a broken contract fails here with the chain of imports that breaks it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_import_contract_is_kept() -> None:
    # The script installed beside this interpreter (the test extra brings import-linter).
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), "install the test extra: pip install -e '.[test]'"
    done = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
