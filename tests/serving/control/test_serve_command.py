"""`corridor serve`: deploy one model on the local home, hand out a token that can only invoke
it, and become the server."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from corridor.serving.serve_cli import default_name
from tests.conftest import run_cli
from tests.serving.world import MLP, World


class _Exec(Exception):
    pass


def test_a_deployment_name_is_made_from_the_models_name() -> None:
    assert default_name("churn/Fraud v2") == "fraud-v2"
    assert default_name("mlp") == "mlp"
    assert default_name("x/__") == "model"


def test_serve_deploys_prints_an_invoke_only_token_and_runs_the_server(
    serving_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[list[str]] = []

    def execv(path: str, argv: list[str]) -> None:
        ran.append(argv)
        raise _Exec

    monkeypatch.setattr(os, "execv", execv)
    home = serving_world.server.home
    args = ("serve", f"{MLP}@candidate", "--name", "ctl-serve", "--port", "18080")
    result = run_cli(home, *args)
    assert ran[0][1:] == ["-m", "corridor", "server", "--host", "127.0.0.1", "--port", "18080"]
    assert "POST http://127.0.0.1:18080/v2/models/ctl-serve/infer" in result.stdout
    assert "(project shop, revision 1)" in result.stdout
    found = re.search(r"token:\s+(\S+)", result.stdout)
    assert found is not None
    secret = found.group(1)
    with serving_world.http() as admin:
        shown = admin.get("/api/v1/deployments/ctl-serve").json()
        assert shown["spec"]["routes"][0]["version"] == 2
    headers = {"authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=serving_world.url, headers=headers) as app:
        refused = app.get("/api/v1/projects/shop/deployments")
        assert refused.status_code == 403
        assert "ctl-serve" in refused.text
    again = run_cli(home, "serve", f"{MLP}@production", "--name", "ctl-serve")
    assert "revision 2" in again.stdout
    assert secret not in again.stdout
    with serving_world.http() as admin:
        assert admin.delete("/api/v1/projects/shop/deployments/ctl-serve").status_code == 204


def test_serve_refuses_a_home_that_is_not_set_up(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", "mlp@production")
    assert result.returncode == 1
    assert "corridor init" in result.stderr
