"""`corridor quickstart` end to end, as a new user runs it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

EXPECTED_STEPS = [
    "initialised a fresh home at ",
    "started a server at ",
    "logged in as 'admin' with a password",
    "authenticated call: whoami -> admin (server admin: True)",
    "created project 'quickstart'",
    "tracked run ",
    "ingested a CSV as dataset version quickstart/orders@1 (3 rows)",
    "ran a job on site 'local': succeeded, printed 'hello from job 45', energy ",
    "ran a pipeline (a map of 10 step jobs, then a fan-in): succeeded, value 285; run again: "
    "3 of 3 steps from the cache",
    "audit chain intact over ",
    "stopped the server (exit code 0)",
    "removed the temporary home",
]


def _processes_mentioning(needle: str) -> list[str]:
    """Command lines of live processes that contain ``needle`` (Linux; empty elsewhere)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in text:
            found.append(text)
    return found


def test_quickstart_proves_each_step_and_leaves_nothing_behind(tmp_path: Path) -> None:
    user_home = tmp_path / "user"
    user_home.mkdir()
    env = {**os.environ, "HOME": str(user_home), "TMPDIR": str(tmp_path)}
    env.pop("CORRIDOR_HOME", None)
    done = subprocess.run(
        [sys.executable, "-m", "corridor", "quickstart"],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    lines = done.stdout.splitlines()
    ticks = [line.removeprefix("✓ ") for line in lines if line.startswith("✓ ")]
    assert len(ticks) == len(EXPECTED_STEPS), done.stdout
    for tick, expected in zip(ticks, EXPECTED_STEPS, strict=True):
        assert tick.startswith(expected), (tick, expected)
    assert lines[-1] == "quickstart finished: everything above worked"

    home = Path(ticks[0].removeprefix(EXPECTED_STEPS[0]).split(" (")[0])
    assert home.is_relative_to(tmp_path)
    assert not home.exists()
    assert not (user_home / ".corridor").exists()

    url = ticks[1].removeprefix(EXPECTED_STEPS[1])
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", url)
    assert match, url
    port = int(match.group(1))
    assert _processes_mentioning(f"corridor server --port {port}") == []
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
