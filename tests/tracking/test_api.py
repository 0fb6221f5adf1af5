"""The tracking routes over HTTP (in-process): shapes, errors, NaN, refusals that write nothing."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import httpx
import pytest

from tests.server.conftest import World
from tests.tracking.conftest import Counts

EXPS = "/api/v1/projects/p/experiments"


@pytest.fixture
def alice(http: httpx.Client, world: World) -> httpx.Client:
    """The in-process client, as alice (admin of project ``p``)."""
    http.headers.update(world.auth("alice"))
    return http


def _run(alice: httpx.Client, world: World, experiment: str = "", **body: object) -> str:
    response = alice.post(f"{EXPS}/{experiment or world.ids['XEXP']}/runs", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["info"]["run_id"])


def test_experiment_lifecycle(alice: httpx.Client) -> None:
    made = alice.post(EXPS, json={"name": "baseline", "tags": {"team": "ml"}})
    assert made.status_code == 201
    exp = made.json()
    assert (exp["name"], exp["project"], exp["tags"]) == ("p/baseline", "p", {"team": "ml"})
    eid = exp["experiment_id"]
    assert alice.post(EXPS, json={"name": "baseline"}).json()["error"]["code"] == "already_exists"
    same = alice.post(EXPS, json={"name": "baseline", "exist_ok": True})
    assert same.status_code == 201
    assert same.json()["experiment_id"] == eid
    assert alice.get(f"{EXPS}/{eid}").json() == exp
    renamed = alice.patch(f"{EXPS}/{eid}", json={"name": "better"}).json()
    assert renamed["name"] == "p/better"
    tagged = alice.put(f"{EXPS}/{eid}/tags", json={"key": "k", "value": "v"}).json()
    assert tagged["tags"] == {"team": "ml", "k": "v"}
    assert alice.delete(f"{EXPS}/{eid}/tags", params={"key": "k"}).status_code == 204
    assert alice.delete(f"{EXPS}/{eid}").status_code == 204
    assert alice.get(f"{EXPS}/{eid}").json()["lifecycle_stage"] == "deleted"
    listed = alice.get(EXPS, params={"view": "DELETED_ONLY"}).json()
    assert eid in [e["experiment_id"] for e in listed["experiments"]]
    assert alice.post(f"{EXPS}/{eid}/restore").json()["lifecycle_stage"] == "active"
    found = alice.get(EXPS, params={"filter": "tags.team = 'ml'"}).json()
    assert [e["name"] for e in found["experiments"]] == ["p/better"]


def test_an_experiment_of_another_project_is_not_found_here(
    http: httpx.Client, world: World
) -> None:
    made = http.post(
        "/api/v1/projects/q/experiments", json={"name": "theirs"}, headers=world.auth("mallory")
    )
    eid = made.json()["experiment_id"]
    response = http.get(f"{EXPS}/{eid}", headers=world.auth("alice"))
    assert response.status_code == 404
    runs = http.get(
        "/api/v1/projects/p/runs", params={"experiment_id": eid}, headers=world.auth("alice")
    )
    assert runs.status_code == 404


def test_runs_log_and_read_back_through_http(alice: httpx.Client, world: World) -> None:
    run_id = _run(alice, world, run_name="web", tags={"team": "ml"})
    body = {
        "metrics": [
            {"key": "acc", "value": 0.5, "timestamp": 1, "step": 0},
            {"key": "acc", "value": 0.9, "timestamp": 2, "step": 1},
            {"key": "loss", "value": "NaN", "timestamp": 1},
        ],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "note", "value": "hi"}],
    }
    assert alice.post(f"/api/v1/runs/{run_id}/batch", json=body).status_code == 204
    # A bare NaN literal, as Python's json module writes it, is accepted too.
    raw = '{"metrics": [{"key": "raw", "value": NaN, "timestamp": 1}]}'
    sent = alice.post(
        f"/api/v1/runs/{run_id}/batch", content=raw, headers={"content-type": "application/json"}
    )
    assert sent.status_code == 204, sent.text
    run = alice.get(f"/api/v1/runs/{run_id}").json()
    assert run["info"]["run_name"] == "web"
    assert run["params"] == {"lr": "0.1"}
    assert run["tags"]["note"] == "hi"
    assert run["metrics"]["acc"] == {"key": "acc", "value": 0.9, "timestamp": 2, "step": 1}
    assert run["metrics"]["loss"]["value"] == "NaN"
    assert run["metrics"]["raw"]["value"] == "NaN"
    history = alice.get(
        f"/api/v1/runs/{run_id}/metrics/history", params={"key": "acc", "max_results": 1}
    ).json()
    assert [p["value"] for p in history["metrics"]] == [0.5]
    rest = alice.get(
        f"/api/v1/runs/{run_id}/metrics/history",
        params={"key": "acc", "page_token": history["next_page_token"]},
    ).json()
    assert [p["value"] for p in rest["metrics"]] == [0.9]
    assert rest["next_page_token"] is None
    finished = alice.patch(f"/api/v1/runs/{run_id}", json={"status": "FINISHED"}).json()
    assert finished["info"]["status"] == "FINISHED"
    assert finished["info"]["end_time"] is not None
    assert alice.delete(f"/api/v1/runs/{run_id}/tags", params={"key": "note"}).status_code == 204
    assert alice.delete(f"/api/v1/runs/{run_id}").status_code == 204
    assert (
        alice.post(f"/api/v1/runs/{run_id}/restore").json()["info"]["lifecycle_stage"] == "active"
    )


def test_search_runs_through_http(alice: httpx.Client, world: World) -> None:
    eid = alice.post(EXPS, json={"name": "search"}).json()["experiment_id"]
    good, bad = _run(alice, world, eid, run_name="good"), _run(alice, world, eid, run_name="bad")
    for run_id, acc in ((good, 0.95), (bad, 0.5)):
        body = {"metrics": [{"key": "acc", "value": acc, "timestamp": 1}]}
        alice.post(f"/api/v1/runs/{run_id}/batch", json=body)
    found = alice.get(
        "/api/v1/projects/p/runs",
        params={"filter": "metrics.acc > 0.9", "experiment_id": eid},
    ).json()
    assert [r["info"]["run_id"] for r in found["runs"]] == [good]
    ordered = alice.get(
        "/api/v1/projects/p/runs",
        params={"order_by": "metrics.acc DESC", "max_results": 1, "experiment_id": eid},
    ).json()
    assert [r["info"]["run_id"] for r in ordered["runs"]] == [good]
    assert ordered["next_page_token"]
    error = alice.get("/api/v1/projects/p/runs", params={"filter": "metrics.acc > 'x'"})
    assert error.status_code == 422
    assert "at column 15" in error.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"params": [{"key": "k" * 251, "value": "v"}]}, 422, "at most 250"),
        ({"params": [{"key": "lr", "value": "changed"}]}, 422, "cannot change"),
        ({"metrics": [{"key": "m", "value": 1, "timestamp": 1}] * 1001}, 422, "at most 1000"),
        ({"tags": [{"key": "t", "value": "v" * 8001}]}, 422, "at most 8000"),
        ({"metrics": [{"key": "m", "value": "high", "timestamp": 1}]}, 422, "metrics.0.value"),
        ({"metrics": [{"key": "m", "value": 1}]}, 422, "timestamp"),
        ({"surprise": []}, 422, "unknown field 'surprise'"),
    ],
)
def test_bad_batches_are_refused_and_write_nothing(
    alice: httpx.Client,
    world: World,
    row_counts: Callable[[], Counts],
    body: dict[str, object],
    status: int,
    message: str,
) -> None:
    run_id = _run(alice, world)
    alice.post(f"/api/v1/runs/{run_id}/batch", json={"params": [{"key": "lr", "value": "0.1"}]})
    before = row_counts()
    good = {"metrics": [{"key": "ok", "value": 1, "timestamp": 1}], "tags": []}
    response = alice.post(f"/api/v1/runs/{run_id}/batch", json={**good, **body})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]
    assert row_counts() == before


def test_deleted_and_unknown_runs(alice: httpx.Client, world: World) -> None:
    dead = world.ids["XDELRUN"]
    body = {"params": [{"key": "a", "value": "b"}]}
    refused = alice.post(f"/api/v1/runs/{dead}/batch", json=body)
    assert refused.status_code == 409
    assert "deleted" in refused.json()["error"]["message"]
    assert alice.get(f"/api/v1/runs/{'0' * 32}").status_code == 404
    assert alice.get("/api/v1/runs/not-a-run-id").status_code == 404
    assert alice.put(f"/api/v1/artifacts/{dead}/f", content=b"x").status_code == 409


def test_artifacts_through_http(alice: httpx.Client, world: World) -> None:
    run_id = world.ids["XRUN"]
    base = f"/api/v1/artifacts/{run_id}"
    put = alice.put(f"{base}/dir/my file.bin", content=b"\x00\x01" * 1000)
    assert put.status_code == 201, put.text
    assert put.json()["file_size"] == 2000
    listed = alice.get(base, params={"path": ""}).json()["files"]
    assert [(f["path"], f["is_dir"]) for f in listed] == [("dir", True), ("f.txt", False)]
    inside = alice.get(base, params={"path": "dir"}).json()["files"]
    assert [f["path"] for f in inside] == ["dir/my file.bin"]
    got = alice.get(f"{base}/dir/my%20file.bin")
    assert got.status_code == 200
    assert got.content == b"\x00\x01" * 1000
    assert got.headers["content-length"] == "2000"
    assert alice.delete(f"{base}/dir").status_code == 204
    assert alice.get(f"{base}/dir/my%20file.bin").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "%2e%2e/%2e%2e/etc/passwd",
        "a/%2E%2E/b",
        "%252e%252e/x",
        "..%2fx",
        "..%5cx",
        "a%00b",
        "file:%2F%2F%2Fetc/passwd",
        "a;b",
        "a/%0Ab",
        "a//b",
        "%2Fetc/passwd",
    ],
)
def test_path_traversal_is_refused_over_http(
    alice: httpx.Client, world: World, row_counts: Callable[[], Counts], path: str
) -> None:
    run_id = world.ids["XRUN"]
    before = row_counts()
    for method in ("PUT", "GET", "DELETE"):
        url = f"/api/v1/artifacts/{run_id}/{path}"
        response = alice.request(method, url, content=b"x" if method == "PUT" else None)
        # A newline is not even routed (404); everything else reaches the path check.
        expected = (404, 422) if "%0A" in path else (422,)
        assert response.status_code in expected, (method, path, response.text)
        if response.status_code == 422:
            assert "refused" in response.json()["error"]["message"]
    listing = alice.get(f"/api/v1/artifacts/{run_id}", params={"path": "../x"})
    assert listing.status_code == 422
    assert row_counts() == before


def test_openapi_documents_the_tracking_routes(http: httpx.Client) -> None:
    paths = http.get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/runs/{run_id}/batch" in paths
    assert "/api/v1/artifacts/{run_id}/{path}" in paths


def test_responses_are_strict_json(alice: httpx.Client, world: World) -> None:
    run_id = world.ids["XRUN"]
    body = {"metrics": [{"key": "n", "value": "NaN", "timestamp": 1}]}
    alice.post(f"/api/v1/runs/{run_id}/batch", json=body)
    text = alice.get(f"/api/v1/runs/{run_id}").text
    parsed = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert parsed["metrics"]["n"]["value"] == "NaN"
    assert math.isnan(float(parsed["metrics"]["n"]["value"]))
