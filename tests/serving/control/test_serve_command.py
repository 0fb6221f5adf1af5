"""`corridor serve`: deploy one model on the local home and hand out a token that can only
invoke it."""

from __future__ import annotations

import httpx

from corridor.config import Settings
from corridor.serving.serve_cli import _deploy_locally, default_name
from tests.serving.world import MLP, World


def test_a_deployment_name_is_made_from_the_models_name() -> None:
    assert default_name("churn/Fraud v2") == "fraud-v2"
    assert default_name("mlp") == "mlp"
    assert default_name("x/__") == "model"


def test_serve_deploys_on_the_local_home_with_an_invoke_only_token(serving_world: World) -> None:
    settings = Settings(home=serving_world.server.home)
    name, project, revision, secret = _deploy_locally(settings, f"{MLP}@candidate", "ctl-serve", 1)
    assert (name, project, revision) == ("ctl-serve", "shop", 1)
    with serving_world.http() as admin:
        shown = admin.get("/api/v1/deployments/ctl-serve").json()
        assert shown["spec"]["routes"][0]["version"] == 2
    with httpx.Client(
        base_url=serving_world.url, headers={"authorization": f"Bearer {secret}"}
    ) as app:
        refused = app.get("/api/v1/projects/shop/deployments")
        assert refused.status_code == 403
        assert "ctl-serve" in refused.text
    again = _deploy_locally(settings, f"{MLP}@production", "ctl-serve", 1)
    assert again[2] == 2
    assert again[3] != secret
    with serving_world.http() as admin:
        assert admin.delete("/api/v1/projects/shop/deployments/ctl-serve").status_code == 204
