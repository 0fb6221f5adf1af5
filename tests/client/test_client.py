"""The Python SDK: in-process over the local home, or over HTTP to a server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

import corridor
from corridor import Client
from corridor.config import Settings
from corridor.errors import (
    AlreadyExists,
    CorridorError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from corridor.home import init_home
from corridor.security.policy import LOCAL_ADMIN_NAME
from tests.conftest import LiveServer, sqlite_only

UNKNOWN_TOKEN = "cor_" + "x" * 40


@pytest.fixture
def local_home(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    """Initialise the home the environment names, as `corridor init` would; return its token."""
    monkeypatch.setenv("CORRIDOR_HOME", str(settings.home))
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", settings.database_url)
    return init_home(settings).admin_token


@dataclass
class Target:
    """Where clients connect (``url`` None: in-process over the home) and the admin's token."""

    url: str | None
    admin_token: str

    def client(self, token: str | None = None) -> Client:
        return Client(self.url, token=token or self.admin_token)


@pytest.fixture(params=["in-process", "http"])
def target(request: pytest.FixtureRequest, database_url: str) -> Target:
    """Each test using this runs in-process and over HTTP."""
    if request.param == "http":
        live: LiveServer = request.getfixturevalue("live_server")
        return Target(live.url, live.token)
    token: str = request.getfixturevalue("local_home")
    return Target(None, token)


def test_client_without_a_url_acts_as_local_admin_in_process(local_home: str) -> None:
    with corridor.Client() as client:
        assert client.in_process
        me = client.whoami()
        assert (me.name, me.is_admin) == (LOCAL_ADMIN_NAME, True)
        client.create_project("offline")
        assert [p.name for p in client.list_projects()] == ["offline"]
        events = client.audit_events()
    assert [(e.actor, e.action) for e in events] == [(LOCAL_ADMIN_NAME, "security.create_project")]
    # The same store is what a token holder sees.
    with corridor.Client(token=local_home) as admin:
        assert admin.whoami().name == "admin"
        assert admin.get_project("offline").name == "offline"


@sqlite_only
def test_client_with_a_url_talks_http_to_the_server(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with corridor.Client(live_server.url, token=live_server.token) as client:
        assert not client.in_process
        assert client.whoami().name == "admin"
        client.create_project("online")
    with live_server.client() as http:
        assert [p["name"] for p in http.get("/api/v1/projects").json()] == ["online"]
    # CORRIDOR_URL and CORRIDOR_TOKEN do the same without arguments.
    monkeypatch.setenv("CORRIDOR_URL", live_server.url)
    monkeypatch.setenv("CORRIDOR_TOKEN", live_server.token)
    with corridor.Client() as client:
        assert not client.in_process
        assert [p.name for p in client.list_projects()] == ["online"]


def _expect(error: type[CorridorError], call: Callable[[], object]) -> None:
    with pytest.raises(CorridorError) as caught:
        call()
    assert caught.type is error, f"{caught.type.__name__}: {caught.value}"
    assert caught.value.status_code == error.status_code
    assert caught.value.message


@sqlite_only
def test_error_responses_become_the_matching_corridor_errors(target: Target) -> None:
    with target.client() as admin:
        admin.create_user("pat")
        pat_token = admin.create_token("t", user="pat").token
        admin.create_project("dup")

        _expect(NotFound, lambda: admin.get_project("absent"))
        _expect(AlreadyExists, lambda: admin.create_project("dup"))
        _expect(InvalidInput, lambda: admin.create_project("a/b"))
        _expect(InvalidInput, lambda: admin.grant_role("dup", "pat", "overlord"))
    with target.client(pat_token) as pat:
        _expect(PermissionDenied, pat.list_users)
        _expect(NotFound, lambda: pat.get_project("dup"))
    with target.client(UNKNOWN_TOKEN) as stranger:
        _expect(Unauthenticated, stranger.whoami)


@sqlite_only
def test_client_data_is_the_data_sdk_bound_to_the_same_connection(target: Target) -> None:
    with target.client() as admin:
        admin.create_project("shop")
        admin.create_user("ed")
        admin.grant_role("shop", "ed", "editor")
        ed_token = admin.create_token("t", user="ed").token
        data = admin.data
        assert admin.data is data  # one per client, made on first use
        assert data.client is admin
        out = data.ingest(b"id,amount\n1,10\n2,20\n", "orders", project="shop")
        assert out.version.ref == "shop/orders@1"
        assert data.get("shop/orders@1")["amount"].to_list() == [10, 20]
        data.close()  # closing the data SDK leaves the client it is bound to open
        assert admin.whoami().is_admin
    with target.client(ed_token) as ed:
        # Editors ingest; deleting is for project admins.
        ed.data.ingest(b"id,amount\n3,30\n", "orders", project="shop")
        _expect(PermissionDenied, lambda: ed.data.delete("shop/orders@1"))
    with target.client() as admin:
        assert admin.data.delete("shop/orders@1").versions == [1]
        assert [v.version for v in admin.data.dataset("shop/orders").versions] == [2]


def test_every_tracking_and_registry_call_is_also_the_clients_own() -> None:
    from corridor.client.registry import RegistryClient
    from corridor.client.tracking import TrackingClient

    client = Client("http://127.0.0.1:9")  # never contacted
    try:
        assert client.tracking.client is client
        assert client.registry.client is client
        for name, part in (("tracking", TrackingClient), ("registry", RegistryClient)):
            calls = [n for n in vars(part) if not n.startswith("_")]
            assert calls
            for call in calls:
                direct = getattr(client, call)
                assert direct == getattr(getattr(client, name), call), call
                assert getattr(Client, call).__doc__ == getattr(part, call).__doc__
    finally:
        client.close()
