"""`corridor deploy`, `corridor deployments ...` and `client.serving` against a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from corridor.errors import InvalidInput, NotFound
from corridor.serving.spec import Batching
from tests.conftest import run_cli
from tests.serving.world import MLP, World


@pytest.fixture
def as_editor(serving_world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("CORRIDOR_URL", serving_world.url)
    monkeypatch.setenv("CORRIDOR_TOKEN", serving_world.editor_token)
    return serving_world


def _cli(world: World, *args: str) -> Any:
    result = run_cli(world.server.home, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--json" in args else result.stdout


def test_the_cli_deploys_lists_shows_scales_rolls_back_and_deletes(as_editor: World) -> None:
    done = _cli(
        as_editor,
        "deploy", "ctl-cli", "--model", "mlp@production", "--project", "shop",
        "--canary", "mlp@candidate:25", "--max-batch-size", "16", "--json",
    )  # fmt: skip
    assert [(r["version"], r["weight"]) for r in done["spec"]["routes"]] == [(1, 75), (2, 25)]
    assert done["spec"]["batching"]["max_batch_size"] == 16
    listed = _cli(as_editor, "deployments", "ls", "--json")
    assert {"ctl-cli", "mlp"} <= {d["name"] for d in listed}
    text = _cli(as_editor, "deployments", "show", "ctl-cli")
    assert "/v2/models/ctl-cli/infer" in text
    assert "shop/mlp@2 25%" in text
    scaled = _cli(as_editor, "deployments", "scale", "ctl-cli", "--replicas", "2", "--json")
    assert scaled["spec"]["replicas"] == 2
    assert scaled["revision"] == 2
    back = _cli(as_editor, "deployments", "rollback", "ctl-cli", "--json")
    assert back["revision"] == 3
    assert back["spec"]["replicas"] == 1
    assert "deleted" in _cli(as_editor, "deployments", "delete", "ctl-cli")
    gone = run_cli(as_editor.server.home, "deployments", "show", "ctl-cli")
    assert gone.returncode == 1
    assert "ctl-cli" in gone.stderr


def test_the_cli_refuses_a_malformed_canary_and_reads_a_graph_file(
    as_editor: World, tmp_path: Path
) -> None:
    bad = run_cli(as_editor.server.home, "deploy", "ctl-x", "-m", "mlp@1", "--canary", "mlp@2")
    assert bad.returncode == 1
    assert "MODEL@ALIAS:PERCENT" in bad.stderr
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps({"kind": "ensemble", "members": ["mlp", "mlp"]}))
    made = _cli(as_editor, "deploy", "ctl-ens", "--graph", str(graph), "-p", "shop", "--json")
    assert made["spec"]["graph"]["members"] == ["mlp", "mlp"]
    _cli(as_editor, "deployments", "delete", "ctl-ens")


def test_the_sdk_finds_the_models_project_and_the_deployment_by_name(
    serving_world: World,
) -> None:
    with serving_world.client(serving_world.editor_token) as client:
        made = client.serving.deploy("ctl-sdk", f"{MLP}@production", shadow=("mlp@2", 5))
        assert made.project == "shop"
        assert made.spec.shadow is not None
        assert made.spec.shadow.version == 2
        assert made.spec.shadow.percent == 5
        scaled = client.serving.scale("ctl-sdk", min_replicas=0, max_replicas=3)
        assert scaled.spec.autoscaling is not None
        assert scaled.spec.autoscaling.scale_to_zero
        assert client.serving.rollback("ctl-sdk").spec == made.spec
        assert [r.revision for r in client.serving.revisions("ctl-sdk")] == [3, 2, 1]
        assert "ctl-sdk" in [d.name for d in client.serving.list("shop")]
        redeployed = client.serving.deploy(
            "ctl-sdk",
            "mlp@2",
            project="shop",
            autoscaling={"min_replicas": 2, "max_replicas": 4},
            batching=Batching(max_batch_size=8),
        )
        assert redeployed.spec.replicas == 2  # started within the autoscaling bounds
        assert redeployed.spec.batching.max_batch_size == 8
        with pytest.raises(InvalidInput, match="name a model"):
            client.serving.deploy("ctl-sdk", project="shop", canary=[("mlp@2", 10)])
        client.serving.delete("ctl-sdk")
        with pytest.raises(NotFound):
            client.serving.show("ctl-sdk")
