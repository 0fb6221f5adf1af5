"""The deployments routes on a real server: deploy, list, show, scale, rollback, delete; bad
input refused with nothing written; who may do what; lineage and audit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.serving.world import MLP, OTHER_MLP, World

BASE = "/api/v1/projects/shop/deployments"


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _revisions(http: httpx.Client) -> dict[str, int]:
    """Each deployment's current revision (statuses move on their own as replicas load)."""
    return {d["name"]: d["revision"] for d in _ok(http.get("/api/v1/deployments"))}


def test_deploy_scale_rollback_and_delete_write_one_revision_each(serving_world: World) -> None:
    with serving_world.http(serving_world.editor_token) as http:
        first = _ok(http.post(BASE, json={"name": "ctl-a", "model": "mlp@production"}), 201)
        assert first["project"] == "shop"
        assert first["revision"] == 1
        assert first["paths"]["infer"] == "/v2/models/ctl-a/infer"
        route = first["spec"]["routes"][0]
        assert (route["model"], route["version"], route["weight"]) == (MLP, 1, 100)
        assert route["ref"] == "mlp@production"

        canary = [{"model": "mlp@candidate", "weight": 10}]
        body = {"name": "ctl-a", "model": "mlp@production", "canary": canary}
        second = _ok(http.post(BASE, json=body), 201)
        weights = [(r["version"], r["weight"]) for r in second["spec"]["routes"]]
        assert second["revision"] == 2
        assert weights == [(1, 90), (2, 10)]

        third = _ok(http.post(f"{BASE}/ctl-a/scale", json={"replicas": 3}))
        assert third["revision"] == 3
        assert third["spec"]["replicas"] == 3
        auto = _ok(http.post(f"{BASE}/ctl-a/scale", json={"min_replicas": 1, "max_replicas": 4}))
        assert auto["spec"]["autoscaling"]["max_replicas"] == 4
        assert auto["revision"] == 4

        back = _ok(http.post(f"{BASE}/ctl-a/rollback", json={}))
        assert back["revision"] == 5
        assert back["spec"] == third["spec"]
        to_first = _ok(http.post(f"{BASE}/ctl-a/rollback", json={"to_revision": 1}))
        assert to_first["revision"] == 6
        assert to_first["spec"] == first["spec"]

        shown = _ok(http.get(f"{BASE}/ctl-a"))
        reasons = [(r["revision"], r["reason"], r["current"]) for r in shown["revisions"]]
        assert reasons[0] == (6, "rollback", True)
        assert [r for _, r, _ in reasons] == [
            "rollback", "rollback", "scale", "scale", "deploy", "deploy"
        ]  # fmt: skip
        assert _ok(http.get(f"{BASE}/ctl-a/revisions"))[0]["revision"] == 6
        assert _ok(http.get("/api/v1/deployments/ctl-a"))["project"] == "shop"
        assert "ctl-a" in [d["name"] for d in _ok(http.get(BASE))]

        assert http.delete(f"{BASE}/ctl-a").status_code == 204
        assert http.get(f"{BASE}/ctl-a").status_code == 404
        assert "ctl-a" not in [d["name"] for d in _ok(http.get(BASE))]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": "ctl-bad", "model": "nosuch@production"}, 404, "not found"),
        ({"name": "ctl-bad", "model": "mlp@nosuchalias"}, 404, "no alias"),
        ({"name": "ctl-bad", "model": "mlp@9"}, 404, "no version 9"),
        ({"name": "ctl-bad", "model": f"{OTHER_MLP}@production"}, 404, "not found"),
        ({"name": "Bad Name", "model": "mlp@production"}, 422, "deployment name"),
        ({"name": "ctl-bad", "model": "mlp@@x"}, 422, "model reference"),
        (
            {
                "name": "ctl-bad",
                "routes": [{"model": "mlp@1", "weight": 50}, {"model": "mlp@2", "weight": 30}],
            },
            422,
            "add up to 100",
        ),
        (
            {"name": "ctl-bad", "model": "mlp@1", "canary": [{"model": "mlp@2", "weight": 100}]},
            422,
            "under 100",
        ),
        ({"name": "ctl-bad", "graph": {"kind": "sequence", "steps": ["ctl-bad"]}}, 422, "itself"),
        ({"name": "ctl-bad", "graph": {"kind": "sequence", "steps": ["nosuch"]}}, 422, "deploy it"),
        ({"name": "ctl-bad", "model": "mlp@1", "replicas": 999}, 422, "replicas"),
        ({"name": "ctl-bad", "model": "mlp@1", "site": "nosuch"}, 422, "not a compute site"),
        ({"name": "mlp", "model": "mlp@1", "replicas": -1}, 422, "replicas"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    serving_world: World, body: dict[str, Any], status: int, words: str
) -> None:
    with serving_world.http(serving_world.editor_token) as http:
        before = _revisions(http)
        response = http.post(BASE, json=body)
        assert response.status_code == status, response.text
        assert words in response.text
        assert _revisions(http) == before


def test_a_graph_cycle_is_refused(serving_world: World) -> None:
    with serving_world.http(serving_world.editor_token) as http:
        step = {"kind": "sequence", "steps": ["mlp"]}
        _ok(http.post(BASE, json={"name": "ctl-g1", "graph": step}), 201)
        _ok(http.post(BASE, json={"name": "ctl-g2", "graph": {**step, "steps": ["ctl-g1"]}}), 201)
        cycle = {"name": "ctl-g1", "graph": {**step, "steps": ["ctl-g2"]}}
        refused = http.post(BASE, json=cycle)
        assert refused.status_code == 422
        assert "cycle" in refused.text
        assert "ctl-g1 -> ctl-g2" in refused.text or "ctl-g2 -> ctl-g1" in refused.text
        assert _ok(http.get(f"{BASE}/ctl-g1"))["revision"] == 1
        in_use = http.delete(f"{BASE}/ctl-g1")
        assert in_use.status_code == 409
        assert "ctl-g2" in in_use.text
        assert http.delete(f"{BASE}/ctl-g2").status_code == 204
        assert http.delete(f"{BASE}/ctl-g1").status_code == 204


def test_a_viewer_reads_but_cannot_change_and_an_outsider_sees_nothing(
    serving_world: World,
) -> None:
    with serving_world.http(serving_world.viewer_token) as viewer:
        assert "mlp" in [d["name"] for d in _ok(viewer.get(BASE))]
        refused = viewer.post(BASE, json={"name": "ctl-v", "model": "mlp@production"})
        assert refused.status_code == 403
        assert "project:write" in refused.text
        assert viewer.post(f"{BASE}/mlp/scale", json={"replicas": 2}).status_code == 403
        assert viewer.delete(f"{BASE}/mlp").status_code == 403
    with serving_world.http(serving_world.outsider_token) as outsider:
        assert outsider.get(BASE).status_code == 404
        assert outsider.get("/api/v1/deployments/mlp").status_code == 404
        assert "mlp" not in [d["name"] for d in _ok(outsider.get("/api/v1/deployments"))]
        # Names are global: another project cannot take one, and is told so.
        taken = outsider.post(
            "/api/v1/projects/other/deployments",
            json={"name": "mlp", "model": f"{OTHER_MLP}@production"},
        )
        assert taken.status_code == 409
        assert "another project" in taken.text


def test_a_pickle_flavour_version_is_refused(serving_world: World, tmp_path: Any) -> None:
    with serving_world.client() as admin:
        admin.create_project("legacy")
        admin.set_project_pickle("legacy", allowed=True)
        blob = tmp_path / "model.pkl"
        blob.write_bytes(b"\x80\x04N.")  # pickle of None; never loaded
        admin.registry.register_model("legacy/pick", blob, flavour="pickle", project="legacy")
    with serving_world.http() as http:
        refused = http.post(
            "/api/v1/projects/legacy/deployments",
            json={"name": "ctl-pick", "model": "legacy/pick@1"},
        )
        assert refused.status_code == 422, refused.text
        assert "unpickl" in refused.text
        assert http.get("/api/v1/deployments/ctl-pick").status_code == 404


def test_a_deployment_is_downstream_of_its_versions_and_its_changes_are_audited(
    serving_world: World,
) -> None:
    with serving_world.client() as admin:
        lineage = admin.registry.version_lineage(MLP, 1, direction="downstream", project="shop")
        kinds = {(n.kind, n.id) for n in lineage.nodes}
        mlp_id = admin.serving.show("mlp").id
        assert ("deployment", mlp_id) in kinds
        actions = [e.action for e in admin.audit_events(limit=1000)]
        assert "serving.deploy" in actions
