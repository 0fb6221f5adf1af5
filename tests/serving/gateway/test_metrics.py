from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.serving.gateway.conftest import assert_mlp_answers
from tests.serving.world import World


def _samples(world: World) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with world.http() as admin:
        text = admin.get("/metrics").text
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def test_metrics_show_serving_requests_and_latency_beside_the_http_ones(world: World) -> None:
    with world.http(world.editor_token) as http:
        assert_mlp_answers(http, world)
        http.post("/v2/models/mlp/infer", content=b"{bad")
    samples = _samples(world)
    assert "corridor_http_requests_total" in samples
    requests = samples["corridor_serving_requests_total"]
    for status in ("200", "400"):
        key = (("deployment", "mlp"), ("status", status), ("version", ""))
        assert requests[key] >= 1
    latency = samples["corridor_serving_request_duration_seconds_count"]
    assert latency[(("deployment", "mlp"),)] >= 2


def test_requests_for_unknown_deployments_share_one_label(world: World) -> None:
    with world.http(world.editor_token) as http:
        http.post("/v2/models/made-up-name/infer", json={})
    requests = _samples(world)["corridor_serving_requests_total"]
    deployments = {dict(labels)["deployment"] for labels in requests}
    assert "made-up-name" not in deployments
    assert "(unknown)" in deployments
