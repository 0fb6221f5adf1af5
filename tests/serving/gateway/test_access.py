from __future__ import annotations

import json
import time

import httpx
import pytest

from corridor.security import identity
from corridor.security.policy import Principal
from corridor.store.db import Database
from tests.conftest import run_cli
from tests.serving.gateway.conftest import assert_mlp_answers, infer_json, rows, wait_ready
from tests.serving.world import MLP, World

REVOCATION_BOUND_S = 1.0


def _infer(world: World, token: str | None, name: str = "mlp") -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=world.url, headers=headers) as http:
        return http.post(f"/v2/models/{name}/infer", json=infer_json(rows(1)))


def test_inference_without_a_token_is_401(world: World) -> None:
    response = _infer(world, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert _infer(world, "cor_" + "x" * 43).json() == {"error": "unknown token"}


def test_a_viewer_may_not_invoke(world: World) -> None:
    response = _infer(world, world.viewer_token)
    assert response.status_code == 403
    assert "viewer" in response.json()["error"]


def test_an_outsider_hears_404_as_for_a_missing_deployment(world: World) -> None:
    hidden = _infer(world, world.outsider_token)
    missing = _infer(world, world.outsider_token, name="no-such-model")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"] == "model 'mlp' not found"
    assert missing.json()["error"] == "model 'no-such-model' not found"


def test_an_invoke_only_token_invokes_its_deployment_and_nothing_else(world: World) -> None:
    with world.client() as admin:
        issued = admin.create_token("app-mlp", user="ed", invoke="mlp")
    assert issued.invoke == "mlp"
    assert _infer(world, issued.token).status_code == 200
    other = _infer(world, issued.token, name="embed")
    assert other.status_code == 403
    assert "only deployment 'mlp'" in other.json()["error"]
    with world.http(issued.token) as http:
        api = http.get("/api/v1/projects")
    assert api.status_code == 403
    assert "may only invoke deployment 'mlp'" in api.text


def test_the_tokens_command_makes_an_invoke_only_token(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORRIDOR_URL", world.url)
    monkeypatch.setenv("CORRIDOR_TOKEN", world.admin_token)
    result = run_cli(
        world.server.home,
        "tokens",
        "create",
        "app-cli",
        "--user",
        "ed",
        "--invoke",
        "mlp",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    issued = json.loads(result.stdout)
    assert issued["invoke"] == "mlp"
    assert _infer(world, issued["token"]).status_code == 200
    assert _infer(world, issued["token"], name="embed").status_code == 403


def _within_a_second(world: World, secret: str, leaving: int) -> int:
    """The status of the first request that does not answer ``leaving``, polled for 1 s."""
    deadline = time.monotonic() + REVOCATION_BOUND_S
    while (status := _infer(world, secret).status_code) == leaving:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return status


def test_a_token_made_and_revoked_by_another_process_follows_within_a_second(
    world: World,
) -> None:
    # Written straight to the server's database from this process: the server learns of each
    # change by polling the change marker, not from its own commit.
    db = Database(world.server.database_url)
    try:
        with db.write() as session:
            owner = identity.get_user(session, "ed")
            issued = identity.issue_token(session, owner, name="elsewhere", ttl=None)
            secret, token_id = issued.secret, issued.token.id
        assert _within_a_second(world, secret, leaving=401) == 200
        with db.write() as session:
            identity.revoke_token(session, token_id, by=Principal.local_admin())
        assert _within_a_second(world, secret, leaving=200) == 401
    finally:
        db.dispose()


def test_a_role_granted_through_the_api_lets_its_holder_invoke_at_once(world: World) -> None:
    with world.client() as admin:
        admin.create_user("newcomer")
        token = admin.create_token("newcomer-token", user="newcomer").token
        assert _infer(world, token).status_code == 404  # no role: the project is hidden
        admin.grant_role(world.project, "newcomer", "editor")
        assert _infer(world, token).status_code == 200
        admin.grant_role(world.project, "newcomer", "viewer")
        assert _infer(world, token).status_code == 403


def test_a_revoked_token_is_refused_within_a_second(world: World) -> None:
    with world.client() as admin:
        issued = admin.create_token("short-lived", user="ed")
        assert _infer(world, issued.token).status_code == 200
        admin.revoke_token(issued.id)
    revoked_at = time.monotonic()
    while (response := _infer(world, issued.token)).status_code == 200:
        assert time.monotonic() - revoked_at < REVOCATION_BOUND_S
        time.sleep(0.02)
    assert response.status_code == 401
    assert response.json() == {"error": "this token was revoked"}


@pytest.fixture(scope="module")
def limited(world: World) -> str:
    name = "gw-limited"
    with world.client() as admin:
        admin.serving.deploy(
            name, f"{MLP}@production", rate_limit={"requests_per_s": 0.5, "burst": 2}
        )
    wait_ready(world, name)
    return name


def test_a_rate_limited_deployment_answers_429_with_retry_after(world: World, limited: str) -> None:
    statuses = [_infer(world, world.editor_token, name=limited).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    response = _infer(world, world.editor_token, name=limited)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert "per token" in response.json()["error"]
    # The limit is per token: another token of the same user still passes, and so do other
    # deployments.
    with world.client() as admin:
        other = admin.create_token("second", user="ed").token
    assert _infer(world, other, name=limited).status_code == 200
    with world.http(world.editor_token) as http:
        assert_mlp_answers(http, world)
