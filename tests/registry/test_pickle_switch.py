"""The project's pickle switch in the registry: what Corridor's API registers, what the client
loads, and what the version's reply says."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from corridor import Client
from corridor.config import Settings
from corridor.errors import InvalidInput
from corridor.home import init_home
from tests.conftest import sqlite_only
from tests.server.conftest import World


class Doubler:
    """A picklable model (module-level, so pickle can find it again)."""

    def predict(self, inputs: list[float]) -> list[float]:
        return [2 * x for x in inputs]


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    init_home(settings)
    with Client(settings=settings) as c:
        c.create_project("churn")
        c.create_project("lab")
        yield c


@pytest.fixture
def pickled(tmp_path: Path) -> Path:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Doubler()))
    return path


@sqlite_only
def test_a_pickle_flavour_is_registered_only_where_a_server_admin_allowed_pickle(
    client: Client, pickled: Path
) -> None:
    with pytest.raises(InvalidInput) as refused:
        client.register_model("churn/doubler", pickled, flavour="sklearn", entry="model.pkl")
    message = refused.value.message
    assert "flavour 'sklearn' is pickle-based" in message
    assert "corridor admin pickle allow churn" in message
    assert client.list_model_versions("churn/doubler") == []
    # An unknown flavour counts as pickle-based.
    with pytest.raises(InvalidInput, match="flavour 'mystery' is pickle-based"):
        client.register_model("churn/doubler", pickled, flavour="mystery")
    client.set_project_pickle("churn", allowed=True)
    version = client.register_model("churn/doubler", pickled, flavour="sklearn", entry="model.pkl")
    assert (version.version, version.pickle_allowed) == (1, True)


@sqlite_only
def test_the_client_loads_pickle_only_while_the_project_allows_it(
    client: Client, pickled: Path
) -> None:
    client.set_project_pickle("churn", allowed=True)
    client.register_model("churn/doubler", pickled, flavour="sklearn", entry="model.pkl")
    client.set_alias("churn/doubler", "production", 1)
    loaded = client.load_model("models:/churn/doubler@production")
    assert loaded.predict([1.0, 2.0]) == [2.0, 4.0]
    # The switch is read from the server at each load: turning it off stops the next one.
    client.set_project_pickle("churn", allowed=False)
    assert client.resolve_model("models:/churn/doubler/1").pickle_allowed is False
    assert client.get_model("churn/doubler").pickle_allowed is False
    with pytest.raises(InvalidInput, match="its project does not allow pickle"):
        client.load_model("models:/churn/doubler@production")


@sqlite_only
def test_a_copy_of_a_pickle_version_needs_the_switch_in_its_own_project(
    client: Client, pickled: Path
) -> None:
    client.set_project_pickle("churn", allowed=True)
    client.register_model("churn/doubler", pickled, flavour="sklearn", entry="model.pkl")
    client.create_model("lab/doubler")
    url = "/api/v1/projects/lab/models/lab/doubler/versions"
    body = {"source": "models:/churn/doubler/1"}
    with pytest.raises(InvalidInput, match="project 'lab' does not allow pickle"):
        client.registry.client.request("POST", url, json=body)
    assert client.list_model_versions("lab/doubler") == []
    client.set_project_pickle("lab", allowed=True)
    copied = client.registry.client.request("POST", url, json=body).json()
    assert (copied["version"], copied["flavour"], copied["pickle_allowed"]) == (1, "sklearn", True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_refused_registration_is_a_422_that_says_how_to_allow_pickle(
    http: httpx.Client, world: World
) -> None:
    blob = http.post("/api/v1/blobs/p", content=b"\x80\x04K\x01.", headers=world.auth("ed"))
    assert blob.status_code == 201, blob.text
    created = http.post("/api/v1/projects/p/models", json={"name": "m"}, headers=world.auth("ed"))
    assert created.status_code == 201, created.text
    package = {"flavour": "pickle", "entry": "m.pkl", "files": {"m.pkl": blob.json()}}
    url = "/api/v1/projects/p/models/p/m/versions"
    refused = http.post(url, json={"package": package}, headers=world.auth("ed"))
    assert refused.status_code == 422, refused.text
    assert "corridor admin pickle allow p" in refused.json()["error"]["message"]
    # A project admin cannot lift it; a server admin can.
    switch = http.put(
        "/api/v1/projects/p/pickle", json={"allowed": True}, headers=world.auth("alice")
    )
    assert switch.status_code == 403, switch.text
    switch = http.put(
        "/api/v1/projects/p/pickle", json={"allowed": True}, headers=world.auth("root")
    )
    assert switch.status_code == 200, switch.text
    accepted = http.post(url, json={"package": package}, headers=world.auth("ed"))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["pickle_allowed"] is True
    shown = http.get(f"{url}/1", headers=world.auth("vic")).json()
    assert (shown["flavour"], shown["pickle_allowed"]) == ("pickle", True)
