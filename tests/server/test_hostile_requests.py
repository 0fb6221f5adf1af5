"""What a hostile or careless client sends gets a 4xx, never a 5xx or a traceback in the log.

Each class found in review has a case here: JSON nested past any sane depth (before and after
authentication), integers that no 64-bit column can hold (on Corridor's API and MLflow's), and
a client that goes away in the middle of an upload.
"""

from __future__ import annotations

import base64
import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, module_server
from tests.server.test_live_server import audit_event, eventually, log_entries

NESTED = b"[" * 1000 + b"]" * 1000
HUGE = str(2**63)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory, "hostile") as live:
        yield live


@pytest.fixture(scope="module")
def seeded(server: LiveServer) -> dict[str, str]:
    """A project with an experiment, a run and a registered model to aim huge numbers at."""
    with server.client() as admin:
        assert admin.post("/api/v1/projects", json={"name": "h"}).status_code == 201
        exp = admin.post("/api/2.0/mlflow/experiments/create", json={"name": "h/e"}).json()
        run = admin.post("/api/2.0/mlflow/runs/create", json=exp).json()["run"]["info"]
        assert admin.post("/api/v1/projects/h/models", json={"name": "m"}).status_code == 201
    return {"experiment": exp["experiment_id"], "run": run["run_id"]}


def server_errors(server: LiveServer, since: int) -> list[dict[str, Any]]:
    """Log records after the first ``since`` that are errors or carry a traceback."""
    return [
        entry
        for entry in log_entries(server)[since:]
        if entry.get("level") in ("error", "critical") or "exception" in entry
    ]


@pytest.mark.parametrize("authenticated", [False, True])
@pytest.mark.parametrize(
    "path",
    [
        "/api/2.0/mlflow/experiments/create",
        "/api/2.0/mlflow/runs/log-batch",
        "/api/2.0/mlflow/registered-models/create",
        "/ajax-api/2.0/mlflow/runs/search",
    ],
)
def test_deeply_nested_json_gets_400_and_keeps_the_connection(
    server: LiveServer, path: str, authenticated: bool
) -> None:
    since = len(log_entries(server))
    headers = {**(server.auth() if authenticated else {}), "content-type": "application/json"}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        response = http.post(path, content=NESTED)
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "nest" in response.json()["message"] or "recursion" in response.json()["message"]
        assert response.headers.get("connection") != "close"
        # The same connection answers the next request.
        assert http.get("/healthz").status_code == 200
        assert http.get("/healthz").status_code == 200
    assert server_errors(server, since) == []


def test_deeply_nested_json_on_our_api_gets_400(server: LiveServer) -> None:
    since = len(log_entries(server))
    with server.client() as admin:
        response = admin.post(
            "/api/v1/projects", content=NESTED, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert "error" in response.json()
    assert server_errors(server, since) == []


def _huge_cases(seeded: dict[str, str]) -> list[tuple[str, str, Any]]:
    run, too_far = seeded["run"], {"key": "x", "value": 1.0, "timestamp": 2**63, "step": 0}
    token = base64.urlsafe_b64encode(json.dumps({"p": {"offset": 2**64}}).encode()).decode()
    return [
        ("GET", f"/api/2.0/mlflow/experiments/get?experiment_id={HUGE}", None),
        ("GET", f"/api/2.0/mlflow/model-versions/get?name=h/m&version={HUGE}", None),
        ("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run, "metrics": [too_far]}),
        ("POST", "/api/2.0/mlflow/runs/log-metric", {"run_id": run, **too_far}),
        ("POST", "/api/2.0/mlflow/runs/update", {"run_id": run, "end_time": 2**64}),
        ("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": HUGE}),
        ("POST", "/api/2.0/mlflow/runs/search", {"experiment_ids": [HUGE]}),
        ("POST", "/api/2.0/mlflow/runs/search", {"experiment_ids": ["0"], "page_token": token}),
        ("GET", f"/api/v1/audit?after={2**70}", None),
        ("GET", f"/api/v1/projects/h/experiments/{HUGE}", None),
        ("GET", f"/api/v1/projects/h/models/m/versions/{HUGE}", None),
        ("GET", f"/api/v1/projects/h/datasets/d/versions/{HUGE}", None),
        ("POST", f"/api/v1/runs/{run}/batch", {"metrics": [too_far]}),
        ("PATCH", f"/api/v1/runs/{run}", {"end_time": -(2**63) - 1}),
    ]


def test_integers_past_64_bits_get_a_4xx_on_both_apis(
    server: LiveServer, seeded: dict[str, str]
) -> None:
    since = len(log_entries(server))
    with server.client() as admin:
        for method, url, body in _huge_cases(seeded):
            response = admin.request(method, url, json=body)
            assert response.status_code in (400, 404, 422), (method, url, response.text)
        history = admin.get(
            f"/api/2.0/mlflow/metrics/get-history?run_id={seeded['run']}&metric_key=x"
        )
        assert history.json().get("metrics", []) == [], "a refused point was stored"
    assert server_errors(server, since) == []


def test_client_gone_mid_upload_is_logged_quietly_and_audited_as_499(
    server: LiveServer,
) -> None:
    since = len(log_entries(server))
    request_id = uuid.uuid4().hex
    host, port = server.url.removeprefix("http://").split(":")
    head = (
        "POST /api/v1/dataset-uploads/h/gone HTTP/1.1\r\n"
        f"host: {host}\r\nauthorization: Bearer {server.token}\r\n"
        f"x-request-id: {request_id}\r\ncontent-length: 10000000\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + b"a,b\n" + b"1,2\n" * 20_000)
    event = eventually(
        lambda: [e for e in log_entries(server)[since:] if e.get("request_id") == request_id],
        "the access log line of the abandoned upload",
    )
    assert event[0]["status"] == 499
    assert audit_event(server, request_id)["outcome"] == "failed"
    assert server_errors(server, since) == []
    with server.client() as admin:
        assert admin.get("/api/v1/projects/h/datasets/gone").status_code == 404
