"""The drift route on a real server (the serving world): who may read it, and what it says
before a deployment has sampled anything."""

from __future__ import annotations

from tests.serving.world import PROJECT, World

ROUTE = "/api/v1/projects/{project}/deployments/{name}/drift"


def test_a_viewer_reads_that_a_deployment_without_samples_has_no_drift_report_yet(
    serving_world: World,
) -> None:
    with serving_world.http(serving_world.viewer_token) as http:
        found = http.get(ROUTE.format(project=PROJECT, name="mlp"))
    assert found.status_code == 404, found.text
    assert "no sampled requests yet" in found.text
    assert "sampling rate" in found.text


def test_the_drift_route_refuses_outsiders_and_names_unknown_deployments(
    serving_world: World,
) -> None:
    with serving_world.http(serving_world.outsider_token) as http:
        outsider = http.get(ROUTE.format(project=PROJECT, name="mlp"))
    assert outsider.status_code in (403, 404), outsider.text
    assert "no sampled requests" not in outsider.text
    with serving_world.http(serving_world.viewer_token) as http:
        unknown = http.get(ROUTE.format(project=PROJECT, name="no-such-deployment"))
    assert unknown.status_code == 404, unknown.text
    assert "no-such-deployment" in unknown.text
