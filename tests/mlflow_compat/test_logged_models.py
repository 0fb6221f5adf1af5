"""The logged-model routes as MLflow's server answers them: shapes, error codes, registration."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.mlflow_compat.conftest import MlflowWorld

API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts/artifacts"


@dataclass
class Team:
    """An experiment of project ``team`` with a run, and an HTTP client for its editor."""

    http: httpx.Client
    experiment_id: str
    run_id: str

    def create(self, **body: Any) -> dict[str, Any]:
        made = self.http.post(
            f"{API}/logged-models", json={"experiment_id": self.experiment_id, **body}
        )
        assert made.status_code == 200, made.text
        model: dict[str, Any] = made.json()["model"]
        return model


def _as(world: MlflowWorld, user: str) -> httpx.Client:
    headers = {"authorization": f"Bearer {world.tokens[user]}"}
    return httpx.Client(base_url=world.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def team(world: MlflowWorld) -> Iterator[Team]:
    with _as(world, "ed") as http:
        created = http.post(f"{API}/experiments/create", json={"name": "team/logged-routes"})
        experiment_id = created.json()["experiment_id"]
        run = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).json()
        yield Team(http, experiment_id, run["run"]["info"]["run_id"])


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    return str(body["error_code"])


def test_create_answers_mlflows_shape(team: Team) -> None:
    model = team.create(
        name="shaped",
        source_run_id=team.run_id,
        params=[{"key": "lr", "value": "0.1"}],
        tags=[{"key": "team", "value": "ml"}],
    )
    info = model["info"]
    model_id = info["model_id"]
    assert re.fullmatch(r"m-[0-9a-f]{32}", model_id)
    assert info == {
        "model_id": model_id,
        "experiment_id": team.experiment_id,
        "name": "shaped",
        "creation_timestamp_ms": info["creation_timestamp_ms"],
        "last_updated_timestamp_ms": info["creation_timestamp_ms"],
        "artifact_uri": f"mlflow-artifacts:/{team.experiment_id}/models/{model_id}/artifacts",
        "status": "LOGGED_MODEL_PENDING",
        "source_run_id": team.run_id,
        "tags": [{"key": "team", "value": "ml"}],
    }
    assert isinstance(info["creation_timestamp_ms"], int)
    assert model["data"] == {"params": [{"key": "lr", "value": "0.1"}], "metrics": []}
    got = team.http.get(f"{API}/logged-models/{model_id}")
    assert got.json() == {"model": model}


@pytest.mark.parametrize("status", ["LOGGED_MODEL_READY", 2, "READY"])
def test_finalize_takes_the_status_by_name_or_number(team: Team, status: object) -> None:
    model_id = team.create()["info"]["model_id"]
    done = team.http.patch(
        f"{API}/logged-models/{model_id}", json={"model_id": model_id, "status": status}
    )
    assert done.status_code == 200, done.text
    assert done.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"


def test_bad_requests_are_invalid_parameter_value_and_write_nothing(team: Team) -> None:
    model_id = team.create(params=[{"key": "lr", "value": "0.1"}])["info"]["model_id"]
    url = f"{API}/logged-models/{model_id}"
    for method, path, body in (
        ("PATCH", url, {"status": "LOGGED_MODEL_STATUS_UNSPECIFIED"}),
        ("PATCH", url, {"status": 7}),
        ("PATCH", url, {}),
        ("PATCH", url, {"model_id": "m-" + "0" * 32, "status": "LOGGED_MODEL_READY"}),
        ("POST", url + "/params", {"params": [{"key": "lr", "value": "0.2"}]}),
        (
            "PATCH",
            url + "/tags",
            {"tags": [{"key": "ok", "value": "1"}, {"key": "", "value": "2"}]},
        ),
        ("POST", f"{API}/logged-models", {"experiment_id": team.experiment_id, "name": "a/b"}),
        (
            "POST",
            f"{API}/logged-models/search",
            {"experiment_ids": [team.experiment_id], "filter": "metrics.a > 1"},
        ),
        ("POST", f"{API}/logged-models/search", {"experiment_ids": []}),
    ):
        response = team.http.request(method, path, json=body)
        assert _error(response, 400) == "INVALID_PARAMETER_VALUE", (method, path, body)
    model = team.http.get(url).json()["model"]
    assert model["info"]["status"] == "LOGGED_MODEL_PENDING"
    assert model["info"]["tags"] == []
    assert model["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    named = team.http.post(
        f"{API}/logged-models/search",
        json={"experiment_ids": [team.experiment_id], "filter": "name = 'a/b'"},
    )
    assert named.json() == {"models": []}


def test_missing_models_are_resource_does_not_exist(team: Team) -> None:
    for method, path in (
        ("GET", f"{API}/logged-models/m-{'0' * 32}"),
        ("GET", f"{API}/logged-models/not-an-id"),
        ("DELETE", f"{API}/logged-models/m-{'0' * 32}/tags/k"),
    ):
        assert _error(team.http.request(method, path), 404) == "RESOURCE_DOES_NOT_EXIST"
    model_id = team.create()["info"]["model_id"]
    missing_tag = team.http.delete(f"{API}/logged-models/{model_id}/tags/nope")
    assert _error(missing_tag, 404) == "RESOURCE_DOES_NOT_EXIST"


def test_tags_with_slashes_and_deletion(team: Team) -> None:
    model_id = team.create()["info"]["model_id"]
    url = f"{API}/logged-models/{model_id}"
    tags = [{"key": "a/b", "value": "1"}, {"key": "c", "value": "2"}]
    assert team.http.patch(url + "/tags", json={"tags": tags}).json() == {}
    assert team.http.delete(url + "/tags/a/b").status_code == 200
    assert team.http.get(url).json()["model"]["info"]["tags"] == [{"key": "c", "value": "2"}]
    assert team.http.request("DELETE", url, json={"model_id": model_id}).json() == {}
    assert _error(team.http.get(url), 404) == "RESOURCE_DOES_NOT_EXIST"
    kept = team.http.get(url, params={"allow_deleted": "true"})
    assert kept.json()["model"]["info"]["model_id"] == model_id
    assert _error(team.http.delete(url), 400) == "INVALID_PARAMETER_VALUE"


def test_run_outputs_show_in_get_and_search(team: Team) -> None:
    model_id = team.create(source_run_id=team.run_id)["info"]["model_id"]
    body = {"run_id": team.run_id, "models": [{"model_id": model_id, "step": 4}]}
    assert team.http.post(f"{API}/runs/outputs", json=body).json() == {}
    got = team.http.get(f"{API}/runs/get", params={"run_id": team.run_id}).json()
    assert {"model_id": model_id, "step": 4} in got["run"]["outputs"]["model_outputs"]
    found = team.http.post(
        f"{API}/runs/search",
        json={"experiment_ids": [team.experiment_id], "filter": f"run_id = '{team.run_id}'"},
    ).json()
    assert found["runs"][0]["outputs"] == got["run"]["outputs"]


def test_an_outsiders_model_is_not_a_run_output(world: MlflowWorld, team: Team) -> None:
    with _as(world, "mallory") as mallory:
        exp = mallory.post(f"{API}/experiments/create", json={"name": "other/hidden-models"})
        made = mallory.post(
            f"{API}/logged-models", json={"experiment_id": exp.json()["experiment_id"]}
        )
        foreign = made.json()["model"]["info"]["model_id"]
    body = {"run_id": team.run_id, "models": [{"model_id": foreign, "step": 0}]}
    response = team.http.post(f"{API}/runs/outputs", json=body)
    assert _error(response, 404) == "RESOURCE_DOES_NOT_EXIST"
    assert response.json()["message"] == f"logged model {foreign!r} not found"
    got = team.http.get(f"{API}/runs/get", params={"run_id": team.run_id}).json()
    assert foreign not in str(got["run"]["outputs"])


def _ready_model_with_files(team: Team, name: str) -> tuple[str, str]:
    model = team.create(name=name, source_run_id=team.run_id)["info"]
    root = model["artifact_uri"].removeprefix("mlflow-artifacts:/")
    for path, data in (("MLmodel", b"flavors: {}\n"), ("model.skops", b"weights")):
        assert team.http.put(f"{ART}/{root}/{path}", content=data).status_code == 200
    return model["model_id"], root


def test_registering_a_logged_model_packages_its_files(team: Team) -> None:
    model_id, root = _ready_model_with_files(team, "to-register")
    listing = team.http.get(ART, params={"path": root}).json()
    assert [f["path"] for f in listing["files"]] == ["MLmodel", "model.skops"]
    assert team.http.post(f"{API}/registered-models/create", json={"name": "team/lm"}).is_success
    version = {"name": "team/lm", "source": f"models:/{model_id}", "model_id": model_id}
    pending = team.http.post(f"{API}/model-versions/create", json=version)
    assert _error(pending, 400) == "INVALID_PARAMETER_VALUE"
    assert "READY" in pending.json()["message"]

    ready = {"status": "LOGGED_MODEL_READY"}
    assert team.http.patch(f"{API}/logged-models/{model_id}", json=ready).is_success
    created = team.http.post(f"{API}/model-versions/create", json=version).json()
    assert created["model_version"]["status"] == "READY"
    assert created["model_version"]["run_id"] == team.run_id
    uri = team.http.get(
        f"{API}/model-versions/get-download-uri", params={"name": "team/lm", "version": "1"}
    )
    assert uri.json() == {"artifact_uri": f"mlflow-artifacts:/{root}"}
    # Registered through MLflow's routes, the package is signed like any other.
    signature = team.http.get("/api/v1/projects/team/models/team/lm/versions/1/signature")
    assert signature.status_code == 200
    assert '"publicKey"' in signature.text
    other_run = {**version, "run_id": "f" * 32}
    refused = team.http.post(f"{API}/model-versions/create", json=other_run)
    assert _error(refused, 400) == "INVALID_PARAMETER_VALUE"


def test_a_version_from_a_hidden_or_empty_logged_model_is_refused(
    world: MlflowWorld, team: Team
) -> None:
    with _as(world, "mallory") as mallory:
        exp = mallory.post(f"{API}/experiments/create", json={"name": "other/secret-models"})
        made = mallory.post(
            f"{API}/logged-models", json={"experiment_id": exp.json()["experiment_id"]}
        )
        secret = made.json()["model"]["info"]["model_id"]
        mallory.patch(f"{API}/logged-models/{secret}", json={"status": "LOGGED_MODEL_READY"})
    empty = team.create()["info"]["model_id"]
    team.http.patch(f"{API}/logged-models/{empty}", json={"status": "LOGGED_MODEL_READY"})
    assert team.http.post(f"{API}/registered-models/create", json={"name": "team/thief-lm"})
    for source, status, code in (
        (f"models:/{secret}", 404, "RESOURCE_DOES_NOT_EXIST"),
        (f"models:/{empty}", 400, "INVALID_PARAMETER_VALUE"),
        (f"mlflow-artifacts:/999/models/{empty}/artifacts", 404, "RESOURCE_DOES_NOT_EXIST"),
    ):
        body = {"name": "team/thief-lm", "source": source}
        response = team.http.post(f"{API}/model-versions/create", json=body)
        assert _error(response, status) == code, source
    versions = team.http.get(
        f"{API}/model-versions/search", params={"filter": "name = 'team/thief-lm'"}
    )
    assert versions.json() == {"model_versions": []}
