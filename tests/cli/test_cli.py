"""The `corridor` command as users run it, over a home in CORRIDOR_HOME.

Commands run in this process through the entry point (see ``run_cli``); the first test runs the
installed `corridor` executable in a child process, to prove the real thing behaves the same.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from corridor import Client
from corridor.config import Settings
from corridor.errors import Unauthenticated
from corridor.home import init_home
from tests.conftest import LiveServer, premigrate, run_cli, sqlite_only

HEAVY_MODULES = ("fastapi", "sqlalchemy", "httpx", "uvicorn")


@dataclass
class Cli:
    """Run `corridor` with CORRIDOR_HOME set to ``home``: in this process, or as a child."""

    home: Path

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return run_cli(self.home, *args, stdin=stdin)

    def run_executable(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the installed `corridor` script in a child process."""
        executable = shutil.which("corridor", path=Path(sys.executable).parent)
        assert executable, "the corridor script is not installed beside this Python"
        return subprocess.run(
            [executable, *args],
            env={**os.environ, "CORRIDOR_HOME": str(self.home)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def ok(self, *args: str) -> str:
        """Run a command that must succeed; return its standard output."""
        done = self.run(*args)
        assert done.returncode == 0, f"corridor {' '.join(args)}: {done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def sdk(self, token: str | None = None) -> Client:
        """An in-process client over the same home, to set up or check what the CLI did."""
        return Client(token=token, settings=Settings(home=self.home))


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "cli-home")


@pytest.fixture
def local(cli: Cli, sqlite_template: Path) -> Cli:
    """A CLI over an initialised local home, so that commands act as its local admin."""
    settings = Settings(home=cli.home)
    cli.home.mkdir()
    premigrate(settings.effective_database_url, sqlite_template)
    init_home(settings)
    return cli


def assert_one_error_line(done: subprocess.CompletedProcess[str], *, expect: str) -> None:
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert expect in lines[0]


def test_init_prints_the_token_once_and_refuses_a_second_init(cli: Cli) -> None:
    done = cli.run_executable("init", "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert Path(printed["home"]) == cli.home.resolve()
    token = printed["token"]
    assert done.stdout.count(token) == 1
    with cli.sdk(token) as client:
        assert client.whoami().name == printed["admin"]
    # Shown once means stored nowhere: the home keeps only its hash.
    for path in cli.home.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path

    again = cli.run_executable("init")
    assert_one_error_line(again, expect="initialised already")
    assert again.stdout == ""


def test_local_admin_manages_users_tokens_projects_and_roles(local: Cli) -> None:
    local.ok("users", "create", "bob")
    assert {u["name"] for u in local.json("users", "ls")} == {"admin", "bob"}

    issued = local.json("tokens", "create", "laptop", "--user", "bob")
    assert issued["name"] == "laptop"
    listed = local.ok("tokens", "ls", "--json")
    assert issued["token"] not in listed
    mine = [t for t in json.loads(listed) if t["id"] == issued["id"]]
    assert [(t["user"], t["revoked_at"]) for t in mine] == [("bob", None)]
    local.ok("tokens", "revoke", issued["id"])
    with local.sdk(issued["token"]) as as_bob, pytest.raises(Unauthenticated, match="revoked"):
        as_bob.whoami()

    assert local.json("projects", "create", "vision")["name"] == "vision"
    assert [p["name"] for p in local.json("projects", "ls")] == ["vision"]
    local.ok("roles", "grant", "vision", "bob", "editor")
    assert local.json("roles", "ls", "vision") == [{"user": "bob", "role": "editor"}]
    local.ok("roles", "revoke", "vision", "bob")
    with local.sdk() as client:
        assert client.list_members("vision") == []


def test_audit_verify_passes_then_names_the_tampered_event(local: Cli) -> None:
    with local.sdk() as client:
        client.create_user("carol")
        client.create_project("ledger")
        client.create_project("journal")
    events = local.json("audit", "ls")
    assert [(e["seq"], e["action"]) for e in events] == [
        (1, "security.create_user"),
        (2, "security.create_project"),
        (3, "security.create_project"),
    ]
    assert "3 events verified" in local.ok("audit", "verify")

    with sqlite3.connect(local.home / "corridor.db") as conn:
        conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    conn.close()
    done = local.run("audit", "verify")
    assert done.returncode == 1
    assert "BROKEN at event 2" in done.stdout


def test_unknown_option_is_a_usage_error_with_exit_code_2(local: Cli) -> None:
    done = local.run("users", "ls", "--colour")
    assert done.returncode == 2
    assert "--colour" in done.stderr


def test_failure_prints_one_error_line_and_debug_shows_the_traceback(local: Cli) -> None:
    with local.sdk() as client:
        client.create_user("bob")
    done = local.run("users", "create", "bob")
    assert_one_error_line(done, expect="user 'bob' exists already")
    assert "Traceback" not in done.stderr

    debug = local.run("--debug", "users", "create", "bob")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "AlreadyExists" in debug.stderr


@sqlite_only
def test_login_makes_commands_remote_until_logout(cli: Cli, live_server: LiveServer) -> None:
    with live_server.client() as admin:
        assert admin.post("/api/v1/projects", json={"name": "far-away"}).status_code == 201

    saved = cli.home / "credentials.json"
    refused = cli.run("login", "--url", live_server.url, "--token", "cor_" + "x" * 40)
    assert_one_error_line(refused, expect="unknown token")
    assert not saved.exists()

    out = cli.ok("login", "--url", live_server.url, "--token", live_server.token)
    assert f"logged in to {live_server.url} as admin" in out
    assert saved.stat().st_mode & 0o777 == 0o600
    # The CLI home was never initialised, so only the server can know this project.
    assert [p["name"] for p in cli.json("projects", "ls")] == ["far-away"]
    assert cli.json("users", "ls")[0]["name"] == "admin"

    assert cli.ok("logout").strip() == "logged out"
    assert not saved.exists()
    done = cli.run("projects", "ls", "--json")
    assert_one_error_line(done, expect="not an initialised Corridor home")
    assert not (cli.home / "corridor.db").exists()


_PROBE = """
import json, sys
import corridor.cli.main
after_import = sorted(m for m in {heavy} if m in sys.modules)
try:
    corridor.cli.main.app(["--help"])
except SystemExit:
    pass
after_help = sorted(m for m in {heavy} if m in sys.modules)
print(json.dumps([after_import, after_help]))
"""


def test_cli_import_and_help_do_not_load_the_server_or_http_stack() -> None:
    code = _PROBE.format(heavy=HEAVY_MODULES)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    after_import, after_help = json.loads(done.stdout.splitlines()[-1])
    assert after_import == []
    assert after_help == []
    assert "Usage" in done.stdout
