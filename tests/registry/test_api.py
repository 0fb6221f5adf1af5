"""The registry's /api/v1 routes, in-process: uploads, versions, downloads, refusals."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from corridor.config import Settings
from corridor.runtime import Runtime
from corridor.security.models import Project
from tests.conftest import sqlite_only
from tests.registry.conftest import make_dataset_version
from tests.server.conftest import World

BODY_LIMIT = 64 * 1024
RUN = "0123456789abcdef0123456789abcdef"
P = "/api/v1/projects/p"


@pytest.fixture
def settings(home: Any, database_url: str) -> Settings:
    """A small JSON body limit, to show that uploads are exempt from it."""
    return Settings(home=home, database_url=database_url, max_body_bytes=BODY_LIMIT)


class Api:
    """Calls as one user, failing loudly on unexpected statuses."""

    def __init__(self, http: httpx.Client, headers: dict[str, str]) -> None:
        self.http = http
        self.headers = headers

    def call(self, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.http.request(method, url, headers=self.headers, **kwargs)
        assert response.status_code == status, response.text
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    def upload(self, data: bytes, project: str = "p") -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", f"/api/v1/blobs/{project}", 201, content=data)
        return result

    def error(self, method: str, url: str, status: int, **kwargs: Any) -> str:
        body = self.call(method, url, status, **kwargs)
        assert set(body) == {"error"}
        message: str = body["error"]["message"]
        return message


@pytest.fixture
def ed(http: httpx.Client, world: World) -> Api:
    return Api(http, world.auth("ed"))


@pytest.fixture
def alice(http: httpx.Client, world: World) -> Api:
    return Api(http, world.auth("alice"))


def _register(api: Api, files: dict[str, bytes], model: str = "fraud", **fields: Any) -> Any:
    uploaded = {rel: api.upload(data) for rel, data in files.items()}
    package = {"flavour": "corridor.linear", "files": uploaded, **fields}
    return api.call("POST", f"{P}/models/{model}/versions", 201, json={"package": package})


@pytest.fixture
def sales(runtime: Runtime) -> str:
    """The id of dataset version p/sales@1."""
    with runtime.db.read() as session:
        p = session.scalars(select(Project).where(Project.name == "p")).one()
    return make_dataset_version(runtime.db, p, "sales")


def test_upload_register_download_alias_and_resolve(
    ed: Api, alice: Api, world: World, sales: str
) -> None:
    run = world.ids["XRUN"]
    weights = os.urandom(3 * BODY_LIMIT)  # larger than the JSON body limit
    created = ed.call("POST", f"{P}/models", 201, json={"name": "fraud", "tags": {"t": "1"}})
    assert (created["name"], created["project"]) == ("p/fraud", "p")
    v1 = _register(
        ed,
        {"model.json": b'{"weights": [1.0], "bias": 0.0}', "weights/w.bin": weights},
        entry="model.json",
        source_run=run,
        dataset_versions=["sales@1"],
    )
    assert (v1["version"], v1["status"], v1["run_id"]) == (1, "READY", run)
    digest = v1["package_digest"]
    # The manifest comes back byte for byte: its SHA-256 is the package digest.
    manifest = ed.http.get(f"{P}/models/fraud/versions/1/manifest", headers=ed.headers)
    assert hashlib.sha256(manifest.content).hexdigest() == digest
    assert manifest.headers["x-corridor-package-digest"] == digest
    got = ed.call("GET", f"{P}/models/fraud/versions/1/files/weights/w.bin")
    assert got == weights
    # Aliases, stages, resolution.
    ed.call("PUT", f"{P}/models/fraud/aliases/production", json={"version": 1})
    assert ed.call("GET", f"{P}/models/fraud/aliases/production")["version"] == 1
    resolved = ed.call("GET", f"{P}/resolve", params={"uri": "models:/p/fraud@production"})
    assert resolved["id"] == v1["id"]
    staged = ed.call("POST", f"{P}/models/fraud/versions/1/stage", json={"stage": "staging"})
    assert staged["current_stage"] == "Staging"
    shown = ed.call("GET", f"{P}/models/fraud")
    assert shown["aliases"] == {"production": 1}
    assert [v["version"] for v in shown["latest_versions"]] == [1]
    # Lineage, both ways.
    up = ed.call("GET", f"{P}/models/fraud/versions/1/lineage", params={"direction": "upstream"})
    assert {(n["kind"], n["id"]) for n in up["nodes"]} == {
        ("model_version", v1["id"]),
        ("run", run),
        ("dataset_version", sales),
    }
    down = ed.call("GET", f"{P}/lineage", params={"kind": "dataset_version", "id": sales})
    version_node = next(n for n in down["nodes"] if n["kind"] == "model_version")
    assert (version_node["name"], version_node["version"], version_node["distance"]) == (
        "p/fraud",
        1,
        2,
    )
    # Listing and search across projects.
    assert ed.call("GET", f"{P}/models/fraud/versions")["versions"][0]["version"] == 1
    found = ed.call("GET", "/api/v1/models", params={"filter": "name = 'p/fraud'"})
    assert [m["project"] for m in found["models"]] == ["p"]
    # Deletes: version and model need the project's admin.
    ed.error("DELETE", f"{P}/models/fraud/versions/1", 403)
    alice.call("DELETE", f"{P}/models/fraud/versions/1", 204)
    ed.error("GET", f"{P}/models/fraud/aliases/production", 404)
    alice.call("DELETE", f"{P}/models/fraud", 204)
    ed.error("GET", f"{P}/models/fraud", 404)


@sqlite_only
def test_names_with_slashes_address_one_model(ed: Api) -> None:
    ed.call("POST", f"{P}/models", 201, json={"name": "team/fraud"})
    _register(ed, {"m.json": b"{}"}, model="team/fraud")
    assert ed.call("GET", f"{P}/models/team/fraud")["name"] == "p/team/fraud"
    # The full name works too, and the version path splits the name from the version.
    assert ed.call("GET", f"{P}/models/p/team/fraud/versions/1")["name"] == "p/team/fraud"
    assert ed.call("GET", f"{P}/models/team/fraud/versions/1/files/m.json") == b"{}"
    message = ed.error("POST", f"{P}/models", 422, json={"name": "a/versions/b"})
    assert "which API paths reserve" in message
    renamed = ed.call("PATCH", f"{P}/models/team/fraud", json={"name": "fraud2"})
    assert renamed["name"] == "p/fraud2"


SOURCES = [
    "file:///etc/passwd",
    "/etc/passwd",
    "../../etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "s3://bucket/key",
    f"runs:/{RUN}/../../other",
    f"runs:/{RUN}/%2e%2e/%2e%2e/etc",
    f"runs:/{RUN}/%252e%252e/etc",
    f"runs:/{RUN}/model;ls",
    f"runs:/{'f' * 32}/model",  # another run's artifacts
    "mlflow-artifacts://evil.example/1/x",
]


@sqlite_only
@pytest.mark.parametrize("source", SOURCES)
def test_refused_sources_are_422_and_write_nothing(ed: Api, source: str) -> None:
    ed.call("POST", f"{P}/models", 201, json={"name": "fraud"})
    body = {"source": source, "run_id": RUN, "tags": {"a": "b"}}
    message = ed.error("POST", f"{P}/models/fraud/versions", 422, json=body)
    assert "refused" in message
    assert ed.call("GET", f"{P}/models/fraud/versions")["versions"] == []


@sqlite_only
@pytest.mark.parametrize(
    "path", ["../escape.bin", "/etc/passwd", "a/../../b", "C:/x", "a\\b", "%2e%2e/x", "a//b"]
)
def test_package_paths_that_could_escape_are_refused(ed: Api, path: str) -> None:
    ed.call("POST", f"{P}/models", 201, json={"name": "fraud"})
    uploaded = ed.upload(b"data")
    package = {"flavour": "onnx", "files": {path: uploaded}}
    message = ed.error("POST", f"{P}/models/fraud/versions", 422, json={"package": package})
    assert "package file path" in message
    assert ed.call("GET", f"{P}/models/fraud/versions")["versions"] == []


@sqlite_only
def test_downloads_serve_only_listed_files(ed: Api, world: World) -> None:
    ed.call("POST", f"{P}/models", 201, json={"name": "fraud"})
    _register(ed, {"model.json": b"{}"})
    base = f"{P}/models/fraud/versions/1/files/"
    for path in ("%2e%2e/%2e%2e/etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "nope"):
        response = ed.http.get(base + path, headers=ed.headers)
        assert response.status_code == 404, (path, response.text)
    # A pending version has no package to download from.
    source = f"runs:/{world.ids['XRUN']}/model"
    ed.call("POST", f"{P}/models/fraud/versions", 201, json={"source": source})
    assert "no package" in ed.error("GET", f"{P}/models/fraud/versions/2/manifest", 409)


@sqlite_only
def test_versions_are_immutable_through_the_api(ed: Api) -> None:
    ed.call("POST", f"{P}/models", 201, json={"name": "fraud"})
    v = _register(ed, {"model.json": b"{}"})
    for field, value in (("source", "runs:/x/y"), ("package_digest", "ab" * 32), ("run_id", RUN)):
        message = ed.error(
            "PATCH", f"{P}/models/fraud/versions/1", 422, json={"description": "x", field: value}
        )
        assert f"unknown field '{field}'" in message
    after = ed.call("PATCH", f"{P}/models/fraud/versions/1", json={"description": "x"})
    assert after["package_digest"] == v["package_digest"]
    assert after["description"] == "x"


@sqlite_only
def test_a_project_cannot_package_another_projects_uploads(
    http: httpx.Client, world: World, ed: Api
) -> None:
    theirs = ed.upload(b"p's secret weights")
    mallory = Api(http, world.auth("mallory"))
    mallory.call("POST", "/api/v1/projects/q/models", 201, json={"name": "thief"})
    package = {"flavour": "onnx", "files": {"stolen.bin": theirs}}
    message = mallory.error(
        "POST", "/api/v1/projects/q/models/thief/versions", 422, json={"package": package}
    )
    assert "not uploaded to this project" in message
    # Nor can an outsider see p's models, or upload into p.
    mallory.error("GET", f"{P}/models/fraud", 404)
    assert [m["name"] for m in mallory.call("GET", "/api/v1/models")["models"]] == ["q/thief"]
    mallory.error("POST", "/api/v1/blobs/p", 404, content=b"x")


@sqlite_only
def test_json_routes_keep_the_body_limit(ed: Api) -> None:
    big = {"name": "fraud", "description": "x" * (BODY_LIMIT + 1)}
    ed.error("POST", f"{P}/models", 413, json=big)


@sqlite_only
def test_uploads_land_in_the_blob_store_and_the_project(ed: Api, runtime: Runtime) -> None:
    data = os.urandom(10_000)
    result = ed.upload(data)
    assert result == {"digest": hashlib.sha256(data).hexdigest(), "size": len(data)}
    with runtime.blobs.open(result["digest"]) as f:
        assert f.read() == data
    empty = ed.upload(b"")
    assert empty["size"] == 0
