"""The ``mlflow-artifacts`` proxy: streamed both ways, and no path can name anything else."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import mlflow
import pytest

from tests.mlflow_compat.conftest import Connect, MlflowWorld

ART = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def run_root(world: MlflowWorld) -> str:
    """``<experiment_id>/<run_id>/artifacts`` of a run in ``team`` holding ``ok.txt``."""
    headers = {"authorization": f"Bearer {world.tokens['ed']}"}
    with httpx.Client(base_url=world.url + "/api/2.0/mlflow", headers=headers) as http:
        experiment_id = http.post("/experiments/create", json={"name": "team/artifacts"}).json()[
            "experiment_id"
        ]
        run = http.post("/runs/create", json={"experiment_id": experiment_id}).json()
    root = f"{experiment_id}/{run['run']['info']['run_id']}/artifacts"
    put = httpx.put(f"{world.url}{ART}/{root}/ok.txt", content=b"fine", headers=headers)
    assert put.status_code == 200, put.text
    return root


@pytest.fixture(scope="module")
def model_root(world: MlflowWorld, run_root: str) -> str:
    """``<experiment_id>/models/<model_id>/artifacts`` of a logged model holding ``ok.txt``."""
    headers = {"authorization": f"Bearer {world.tokens['ed']}"}
    experiment_id = run_root.split("/")[0]
    made = httpx.post(
        f"{world.url}/api/2.0/mlflow/logged-models",
        json={"experiment_id": experiment_id, "name": "files"},
        headers=headers,
    )
    root = made.json()["model"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
    put = httpx.put(f"{world.url}{ART}/{root}/ok.txt", content=b"fine", headers=headers)
    assert put.status_code == 200, put.text
    return str(root)


def _raw(world: MlflowWorld, method: str, target: str, body: bytes | None = None) -> int:
    """Send ``target`` byte for byte: no client normalises ``..`` or re-encodes ``%``."""
    parts = urlsplit(world.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {world.tokens['root']}"}
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status >= 400 and payload:
            assert set(json.loads(payload)) == {"error_code", "message"}
        return response.status
    finally:
        conn.close()


TRAVERSALS = {
    "dot-dot": "{root}/../../../../etc/passwd",
    "dot-dot-in-the-middle": "{root}/a/../../../other/artifacts/x",
    "encoded-dot-dot": "{root}/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "encoded-slash": "{root}/..%2f..%2fetc%2fpasswd",
    "double-encoded": "{root}/%252e%252e/%252e%252e/etc/passwd",
    "absolute": "/etc/passwd",
    "absolute-inside": "{root}//etc/passwd",
    "file-scheme": "{root}/file:///etc/passwd",
    "semicolon": "{root}/ok.txt;rm%20-rf",
    "backslash": "{root}/..\\..\\windows",
    "nul": "{root}/a%00b",
}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("template", TRAVERSALS.values(), ids=TRAVERSALS.keys())
def test_traversal_is_refused_with_a_4xx(
    world: MlflowWorld, run_root: str, template: str, method: str
) -> None:
    target = ART + "/" + template.format(root=run_root).lstrip("/")
    if template.startswith("/"):
        target = ART + template
    status = _raw(world, method, target, b"x" if method == "PUT" else None)
    assert 400 <= status < 500, target


@pytest.mark.parametrize("template", TRAVERSALS.values(), ids=TRAVERSALS.keys())
def test_traversal_in_a_listing_is_refused_with_a_4xx(
    world: MlflowWorld, run_root: str, template: str
) -> None:
    path = template.format(root=run_root).replace("%", "%25").replace("/", "%2F")
    assert 400 <= _raw(world, "GET", f"{ART}?path={path}") < 500


def test_a_path_naming_another_experiment_finds_nothing(world: MlflowWorld, run_root: str) -> None:
    _, run_id, _ = run_root.split("/")
    assert _raw(world, "GET", f"{ART}/999/{run_id}/artifacts/ok.txt") == 404
    assert _raw(world, "GET", f"{ART}/{run_root}/ok.txt") == 200


def _blob_files(world: MlflowWorld) -> Iterator[Path]:
    return (p for p in (world.live.home / "blobs").rglob("*") if p.is_file())


def test_artifact_names_never_reach_the_servers_disk(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    """Bytes live in the blob store under their digest, so no artifact path (or symlink in
    one) is ever opened on the server: there is nothing to traverse or follow."""
    connect(world.url, world.tokens["ed"], workspace="team")
    (tmp_path / "evil-name.txt").write_text("payload-bytes")
    with mlflow.start_run(experiment_id=mlflow.set_experiment("disk").experiment_id):
        mlflow.log_artifact(str(tmp_path / "evil-name.txt"), artifact_path="deep/dir")
    names = [p.name for p in _blob_files(world)]
    assert names
    assert not [n for n in names if "evil" in n or "deep" in n]
    assert all(re.fullmatch(r"[0-9a-f]{64}(\.[0-9a-f]+)?", n) for n in names), names
    assert not any(b"payload-bytes" in p.read_bytes() for p in _blob_files(world))


def test_large_artifacts_stream_up_and_down(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    """Bigger than the server's body limit for JSON routes, so it must stream."""
    client = connect(world.url, world.tokens["ed"], workspace="team")
    run_id = client.create_run(client.create_experiment("big")).info.run_id
    big = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096
    with big.open("wb") as out:
        for i in range(3):
            out.write(bytes([i]) + block[1:])
    client.log_artifact(run_id, str(big))
    back = Path(client.download_artifacts(run_id, "big.bin", str(tmp_path / "back")))
    assert back.read_bytes() == big.read_bytes()
    assert client.list_artifacts(run_id)[0].file_size == big.stat().st_size


def test_listing_a_run_path_through_runs_uri_works_without_logged_models(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    """MLflow 3 clients also look for a logged model named like the path; there is none."""
    client = connect(world.url, world.tokens["ed"], workspace="team")
    run_id = client.create_run(client.create_experiment("runs-uri")).info.run_id
    (tmp_path / "a.txt").write_text("a")
    client.log_artifact(run_id, str(tmp_path / "a.txt"), artifact_path="model")
    listed = mlflow.artifacts.list_artifacts(artifact_uri=f"runs:/{run_id}/model")
    assert [f.path for f in listed] == ["model/a.txt"]


def test_deleting_an_artifact_removes_it(world: MlflowWorld, run_root: str) -> None:
    headers = {"authorization": f"Bearer {world.tokens['ed']}"}
    url = f"{world.url}{ART}/{run_root}/gone.txt"
    assert httpx.put(url, content=b"x", headers=headers).status_code == 200
    assert httpx.delete(url, headers=headers).status_code == 200
    assert httpx.get(url, headers=headers).status_code == 404
    assert _raw(world, "GET", f"{ART}/{run_root}/ok.txt") == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("template", TRAVERSALS.values(), ids=TRAVERSALS.keys())
def test_traversal_from_a_logged_model_is_refused_with_a_4xx(
    world: MlflowWorld, model_root: str, template: str, method: str
) -> None:
    target = ART + "/" + template.format(root=model_root).lstrip("/")
    status = _raw(world, method, target, b"x" if method == "PUT" else None)
    assert 400 <= status < 500, target
    path = template.format(root=model_root).replace("%", "%25").replace("/", "%2F")
    assert 400 <= _raw(world, "GET", f"{ART}?path={path}") < 500
    assert _raw(world, "GET", f"{ART}/{model_root}/ok.txt") == 200


def test_a_models_files_go_up_list_and_come_down(world: MlflowWorld, model_root: str) -> None:
    headers = {"authorization": f"Bearer {world.tokens['ed']}"}
    url = f"{world.url}{ART}/{model_root}/model/weights.bin"
    assert httpx.put(url, content=b"\x00\x01", headers=headers).status_code == 200
    assert httpx.get(url, headers=headers).content == b"\x00\x01"
    listed = httpx.get(f"{world.url}{ART}", params={"path": model_root}, headers=headers).json()
    assert {(f["path"], f["is_dir"]) for f in listed["files"]} >= {
        ("model", True),
        ("ok.txt", False),
    }
    _, _, model_id, _ = model_root.split("/")
    run_path = model_root.replace(f"models/{model_id}", "f" * 32)
    assert _raw(world, "GET", f"{ART}/{run_path}/ok.txt") == 404


def test_a_models_path_must_name_its_experiment(world: MlflowWorld, model_root: str) -> None:
    _, _, model_id, _ = model_root.split("/")
    assert _raw(world, "GET", f"{ART}/999/models/{model_id}/artifacts/ok.txt") == 404
    assert _raw(world, "PUT", f"{ART}/999/models/{model_id}/artifacts/n.txt", b"x") == 404
    assert _raw(world, "GET", f"{ART}/{model_root}/ok.txt") == 200


def test_a_deleted_model_takes_no_files(world: MlflowWorld, run_root: str) -> None:
    headers = {"authorization": f"Bearer {world.tokens['ed']}"}
    api = f"{world.url}/api/2.0/mlflow/logged-models"
    made = httpx.post(api, json={"experiment_id": run_root.split("/")[0]}, headers=headers)
    info = made.json()["model"]["info"]
    root = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert httpx.delete(f"{api}/{info['model_id']}", headers=headers).status_code == 200
    refused = httpx.put(f"{world.url}{ART}/{root}/late.txt", content=b"x", headers=headers)
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
