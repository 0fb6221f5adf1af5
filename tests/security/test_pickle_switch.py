"""The per-project pickle switch: only a server admin flips it, every flip is audited, and the
project's reply shows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from corridor import Client
from corridor.config import Settings
from corridor.home import init_home
from tests.conftest import run_cli
from tests.server.conftest import World

PICKLE = "/api/v1/projects/p/pickle"


def _events(http: httpx.Client, world: World) -> list[dict[str, Any]]:
    reply = http.get("/api/v1/audit", params={"limit": 1000}, headers=world.auth("root"))
    assert reply.status_code == 200, reply.text
    return [e for e in reply.json() if e["action"] == "security.set_project_pickle"]


def _shown(http: httpx.Client, world: World, user: str = "vic") -> bool:
    reply = http.get("/api/v1/projects/p", headers=world.auth(user))
    assert reply.status_code == 200, reply.text
    allowed: bool = reply.json()["allow_pickle"]
    return allowed


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_only_a_server_admin_flips_the_switch_and_each_flip_is_audited(
    http: httpx.Client, world: World
) -> None:
    assert _shown(http, world) is False  # every project starts with pickle refused
    # The project's own admin may not decide that its members' machines run its pickles.
    refused = http.put(PICKLE, json={"allowed": True}, headers=world.auth("alice"))
    assert refused.status_code == 403, refused.text
    assert _shown(http, world) is False
    allowed = http.put(PICKLE, json={"allowed": True}, headers=world.auth("root"))
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["allow_pickle"] is True
    assert _shown(http, world) is True
    denied = http.put(PICKLE, json={"allowed": False}, headers=world.auth("root"))
    assert denied.json()["allow_pickle"] is False
    assert _shown(http, world) is False
    events = _events(http, world)
    assert [(e["actor"], e["outcome"], e["target"]) for e in events] == [
        ("alice", "denied", PICKLE),
        ("root", "success", PICKLE),
        ("root", "success", PICKLE),
    ]
    assert [(e["detail"].get("project"), e["detail"].get("allow_pickle")) for e in events] == [
        (None, None),  # refused before the route ran: the path names the project
        ("p", True),
        ("p", False),
    ]
    assert http.get("/api/v1/audit/verify", headers=world.auth("root")).json()["ok"] is True


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_switch_of_a_missing_project_is_not_found_and_needs_a_boolean(
    http: httpx.Client, world: World
) -> None:
    missing = http.put(
        "/api/v1/projects/absent/pickle", json={"allowed": True}, headers=world.auth("root")
    )
    assert missing.status_code == 404, missing.text
    vague = http.put(PICKLE, json={"allowed": "maybe"}, headers=world.auth("root"))
    assert vague.status_code == 422, vague.text
    assert _shown(http, world) is False


def test_corridor_admin_pickle_allow_and_deny(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    init_home(settings)
    with Client(settings=settings) as c:
        c.create_project("churn")
    done = run_cli(home, "admin", "pickle", "allow", "churn")
    assert done.returncode == 0, done.stderr
    assert "project churn: pickle-based models may be loaded" in done.stdout
    with Client(settings=settings) as c:
        assert c.get_project("churn").allow_pickle is True
    done = run_cli(home, "admin", "pickle", "deny", "churn", "--json")
    assert done.returncode == 0, done.stderr
    assert '"allow_pickle": false' in done.stdout
    with Client(settings=settings) as c:
        assert c.get_project("churn").allow_pickle is False
        actions = [e.action for e in c.audit_events(limit=1000)]
    assert actions.count("security.set_project_pickle") == 2
    missing = run_cli(home, "admin", "pickle", "allow", "absent")
    assert missing.returncode == 1
    assert "project 'absent' not found" in missing.stderr
