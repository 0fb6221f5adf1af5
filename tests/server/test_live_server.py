"""The server as deployed: a real `corridor server` process on loopback, spoken to over TCP."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from corridor.security.models import Token
from corridor.store.base import utcnow
from corridor.store.db import Database
from tests.conftest import LIVE_MAX_BODY_BYTES, LiveServer, module_server, sqlite_only

WAIT_S = 15.0
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One SQLite-backed server for the tests here that change nothing another test reads."""
    with module_server(tmp_path_factory, "shared") as live:
        yield live


def eventually(probe: Callable[[], Any], what: str) -> Any:
    """Return ``probe()``'s first truthy value; the server logs and counts after it replies."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


def audit_event(live: LiveServer, request_id: str) -> dict[str, Any]:
    """The audit event of a request; it is stored before the reply to the request completes."""
    with live.client() as admin:
        events = admin.get("/api/v1/audit", params={"limit": 1000}).json()
    found = [e for e in events if e["request_id"] == request_id]
    assert len(found) == 1, f"request {request_id} has {len(found)} audit events"
    return found[0]


def project_names(live: LiveServer) -> set[str]:
    with live.client() as admin:
        response = admin.get("/api/v1/projects")
    assert response.status_code == 200
    return {p["name"] for p in response.json()}


def user_token(live: LiveServer, name: str) -> str:
    """Create a user without server-admin rights and return a token of theirs."""
    with live.client() as admin:
        assert admin.post("/api/v1/users", json={"name": name}).status_code == 201
        issued = admin.post("/api/v1/tokens", json={"name": "t", "user": name})
    assert issued.status_code == 201
    token: str = issued.json()["token"]
    return token


def log_entries(live: LiveServer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in live.log_path.read_text().splitlines()]


# Health and request ids.


def test_healthz_answers_without_a_credential(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_valid_request_id_is_echoed(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/healthz", headers={"x-request-id": "client-req.0001_A"})
    assert response.headers["x-request-id"] == "client-req.0001_A"


@pytest.mark.parametrize(
    "sent", [None, "short", "has spaces in it", "x" * 65, "semi;colon-0001", "slash/in/it-001"]
)
def test_absent_or_invalid_request_id_is_replaced_by_a_generated_one(
    server: LiveServer, sent: str | None
) -> None:
    headers = {} if sent is None else {"x-request-id": sent}
    response = httpx.get(f"{server.url}/healthz", headers=headers)
    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])


# Metrics.


def _request_count(text: str, route: str, status: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "corridor_http_requests_total"
                and labels.get("route") == route
                and labels.get("status") == status
            ):
                return sample.value
    return 0.0


def test_metrics_need_a_server_admin_and_count_requests(server: LiveServer) -> None:
    viewer = user_token(server, "metrics-reader")
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert httpx.get(f"{server.url}/metrics", headers=server.auth(viewer)).status_code == 403

    with server.client() as admin:
        first = admin.get("/metrics")
        assert first.status_code == 200
        assert first.headers["content-type"].startswith("text/plain")
        before = _request_count(first.text, "server.healthz", "200")
        for _ in range(3):
            assert admin.get("/healthz").status_code == 200

        def counted() -> float | None:
            after = _request_count(admin.get("/metrics").text, "server.healthz", "200")
            return after if after >= before + 3 else None

        assert eventually(counted, "three more healthz requests in the metrics") == before + 3


# Request bodies.


def _body(size: int) -> bytes:
    """A JSON project body of exactly ``size`` bytes."""
    empty = json.dumps({"name": "sized", "description": ""}).encode()
    return json.dumps({"name": "sized", "description": "x" * (size - len(empty))}).encode()


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


def _post_body(live: LiveServer, data: bytes, *, chunked: bool) -> httpx.Response:
    headers = {**live.auth(), "content-type": "application/json"}
    content = _chunks(data) if chunked else data
    response = httpx.post(f"{live.url}/api/v1/projects", content=content, headers=headers)
    # Make sure the request went out the way the test claims.
    if chunked:
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.request.headers
    else:
        assert response.request.headers["content-length"] == str(len(data))
    return response


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit_gets_413_with_our_error_body(
    server: LiveServer, chunked: bool
) -> None:
    response = _post_body(server, _body(LIVE_MAX_BODY_BYTES + 1), chunked=chunked)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert str(LIVE_MAX_BODY_BYTES) in error["message"]
    assert "sized" not in project_names(server)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit_on_an_mlflow_route_gets_mlflows_error_body(
    server: LiveServer, chunked: bool
) -> None:
    data = _body(LIVE_MAX_BODY_BYTES + 1)
    response = httpx.post(
        f"{server.url}/api/2.0/mlflow/experiments/create",
        content=_chunks(data) if chunked else data,
        headers={**server.auth(), "content-type": "application/json"},
    )
    assert response.status_code == 413
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert str(LIVE_MAX_BODY_BYTES) in body["message"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_at_the_limit_reaches_the_route(server: LiveServer, chunked: bool) -> None:
    response = _post_body(server, _body(LIVE_MAX_BODY_BYTES), chunked=chunked)
    # The route itself refuses a description this long; the size limit let it through.
    assert response.status_code == 422
    assert "description" in response.json()["error"]["message"]


def test_malformed_json_gets_400(server: LiveServer) -> None:
    with server.client() as admin:
        response = admin.post(
            "/api/v1/projects",
            content=b'{"name": "half-written",',
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert "half-written" not in project_names(server)


def test_unknown_field_gets_422_naming_it(server: LiveServer) -> None:
    with server.client() as admin:
        response = admin.post("/api/v1/projects", json={"name": "painted", "colour": "red"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "colour" in error["message"]
    assert "painted" not in project_names(server)


BAD_NAMES = ["a/b", "../up", "a\\b", "tab\there", "nul\x00byte", "new\nline", "..", "."]


def test_unsafe_names_get_422_and_create_nothing(server: LiveServer) -> None:
    projects_before = project_names(server)
    with server.client() as admin:
        users_before = {u["name"] for u in admin.get("/api/v1/users").json()}
        for name in BAD_NAMES:
            for path in ("/api/v1/projects", "/api/v1/users"):
                response = admin.post(path, json={"name": name})
                assert response.status_code == 422, (path, name, response.text)
                assert response.json()["error"]["code"] == "invalid_input"
        users_after = {u["name"] for u in admin.get("/api/v1/users").json()}
    assert project_names(server) == projects_before
    assert users_after == users_before


# Tokens that no longer work.


def _retire_by_expiry(live: LiveServer, db: Database, token_id: str) -> None:
    past = utcnow() - dt.timedelta(minutes=1)
    with db.write() as session:
        session.execute(update(Token).where(Token.id == token_id).values(expires_at=past))


def _retire_by_revocation(live: LiveServer, db: Database, token_id: str) -> None:
    with live.client() as admin:
        assert admin.delete(f"/api/v1/tokens/{token_id}").status_code == 200


RETIREMENTS = {"expired": _retire_by_expiry, "revoked": _retire_by_revocation}


def test_expired_and_revoked_tokens_get_401_and_a_denied_audit_event(
    live_server: LiveServer, db: Database
) -> None:
    url = f"{live_server.url}/api/v1/auth/whoami"
    for reason, retire in RETIREMENTS.items():
        with live_server.client() as admin:
            issued = admin.post("/api/v1/tokens", json={"name": reason}).json()
        assert httpx.get(url, headers=live_server.auth(issued["token"])).status_code == 200

        retire(live_server, db, issued["id"])
        request_id = f"{reason}-{uuid.uuid4().hex}"
        headers = {**live_server.auth(issued["token"]), "x-request-id": request_id}
        response = httpx.get(url, headers=headers)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == "unauthenticated"
        assert reason in error["message"]
        event = audit_event(live_server, request_id)
        assert event["outcome"] == "denied"
        assert reason in event["detail"]["reason"]


# Process behaviour.


@sqlite_only
def test_sigterm_stops_the_server_with_exit_code_0(live_server: LiveServer) -> None:
    with live_server.client() as admin:
        assert admin.post("/api/v1/projects", json={"name": "before-stop"}).status_code == 201
    assert live_server.stop() == 0
    messages = [e["message"] for e in log_entries(live_server)]
    assert "Application shutdown complete." in messages


def test_server_binds_loopback_by_default(server: LiveServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    messages = [e["message"] for e in log_entries(server)]
    assert any(m.startswith(f"Uvicorn running on http://127.0.0.1:{port} ") for m in messages)
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def _non_loopback_ipv4() -> set[str]:
    found: set[str] = set()
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        found.update(str(info[4][0]) for info in infos)
    except OSError:
        pass
    # The address of the interface holding the default route; connecting UDP sends nothing.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            found.add(probe.getsockname()[0])
        except OSError:
            pass
    return {a for a in found if not a.startswith("127.") and a != "0.0.0.0"}


def test_server_is_not_reachable_on_other_interfaces(server: LiveServer) -> None:
    addresses = _non_loopback_ipv4()
    if not addresses:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    port = int(server.url.rsplit(":", 1)[1])
    for address in addresses:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, port), timeout=5).close()


def test_server_log_is_json_lines_without_secrets(server: LiveServer) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    wrong_password = f"wrong-{uuid.uuid4().hex}"
    bogus_token = f"cor_{uuid.uuid4().hex}{uuid.uuid4().hex}"
    query_secret = f"qs-{uuid.uuid4().hex}"
    basic = "Basic " + uuid.uuid4().hex
    marker = f"log-check-{uuid.uuid4().hex}"

    with server.client() as admin:
        created = admin.post("/api/v1/users", json={"name": "logan", "password": password})
        assert created.status_code == 201
    with httpx.Client(base_url=server.url) as anonymous:
        login = anonymous.post(
            "/api/v1/auth/login", json={"username": "logan", "password": password}
        )
        assert login.status_code == 200
        session_token = login.json()["token"]
        refused = anonymous.post(
            "/api/v1/auth/login", json={"username": "logan", "password": wrong_password}
        )
        assert refused.status_code == 401
        assert (
            anonymous.get("/api/v1/auth/whoami", headers=server.auth(bogus_token)).status_code
            == 401
        )
        assert (
            anonymous.get("/api/v1/auth/whoami", headers={"authorization": basic}).status_code
            == 401
        )
        whoami = anonymous.get(
            "/api/v1/auth/whoami",
            params={"token": query_secret},
            headers={**server.auth(session_token), "x-request-id": marker},
        )
        assert whoami.status_code == 200

    eventually(lambda: marker in server.log_path.read_text(), "the last request in the log")
    entries = log_entries(server)  # every line must parse as JSON
    assert all({"time", "level", "message"} <= set(entry) for entry in entries)
    text = server.log_path.read_text()
    secrets = [server.token, password, wrong_password, session_token, bogus_token, query_secret]
    for secret in [*secrets, basic.split()[1]]:
        assert secret not in text
