"""Every MLflow route against every kind of caller, under both of MLflow's path prefixes.

Anonymous callers get 401; someone outside the project gets 404, exactly as if the thing named
did not exist; a viewer who writes gets 403. A case that may change what it acts on gets
things made fresh for it; reads, and callers who must be refused, share one set per module.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from corridor.config import Settings
from corridor.mlflow_compat.errors import is_mlflow_path
from corridor.runtime import Runtime
from corridor.server.app import create_app, route_table
from tests.mlflow_compat.conftest import MlflowWorld

PREFIXES = ("/api/2.0", "/ajax-api/2.0")
CALLERS = (None, "mallory", "vic", "ed", "alice", "root")
ALLOWED = {
    "auth": {"mallory", "vic", "ed", "alice", "root"},
    "read": {"vic", "ed", "alice", "root"},
    "write": {"ed", "alice", "root"},
    "admin": {"alice", "root"},
}


@dataclass
class Stage:
    """Things in project ``team`` made for one case: an experiment, a run with a tag and a
    file, and a registered model with a tag, version 1 (tagged) and alias ``a1``."""

    name: str
    experiment_id: str
    run_id: str
    # A logged model of the experiment, with tag ``ltag`` and the file ``f.txt``.
    model_id: str = ""

    @property
    def model(self) -> str:
        return self.name + "-model"

    @property
    def model_root(self) -> str:
        return f"{self.experiment_id}/models/{self.model_id}/artifacts"

    @property
    def artifact_root(self) -> str:
        return f"{self.experiment_id}/{self.run_id}/artifacts"


Build = Callable[[Stage], Any]


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    level: str
    body: Build = lambda s: None
    url: Callable[[Stage], str] | None = None

    def target(self, stage: Stage) -> str:
        return self.url(stage) if self.url else self.path


def _run(s: Stage) -> dict[str, str]:
    return {"run_id": s.run_id}


def _exp(s: Stage) -> dict[str, str]:
    return {"experiment_id": s.experiment_id}


_ART = "/mlflow-artifacts/artifacts"

TRACKING = [
    Case("POST", "/mlflow/experiments/create", "write", lambda s: {"name": s.name + "-new"}),
    Case("POST", "/mlflow/experiments/search", "auth", lambda s: {"max_results": 5}),
    Case("GET", "/mlflow/experiments/search", "auth", lambda s: {"max_results": 5}),
    Case("GET", "/mlflow/experiments/get", "read", _exp),
    Case(
        "GET",
        "/mlflow/experiments/get-by-name",
        "read",
        lambda s: {"experiment_name": s.name},
    ),
    Case("POST", "/mlflow/experiments/delete", "write", _exp),
    Case("POST", "/mlflow/experiments/restore", "write", _exp),
    Case(
        "POST",
        "/mlflow/experiments/update",
        "write",
        lambda s: {**_exp(s), "new_name": s.name + "-renamed"},
    ),
    Case(
        "POST",
        "/mlflow/experiments/set-experiment-tag",
        "write",
        lambda s: {**_exp(s), "key": "k", "value": "v"},
    ),
    Case(
        "POST",
        "/mlflow/experiments/delete-experiment-tag",
        "write",
        lambda s: {**_exp(s), "key": "etag"},
    ),
    Case("POST", "/mlflow/runs/create", "write", _exp),
    Case("POST", "/mlflow/runs/update", "write", lambda s: {**_run(s), "status": "FINISHED"}),
    Case("POST", "/mlflow/runs/delete", "write", _run),
    Case("POST", "/mlflow/runs/restore", "write", _run),
    Case("GET", "/mlflow/runs/get", "read", _run),
    Case(
        "POST",
        "/mlflow/runs/log-metric",
        "write",
        lambda s: {**_run(s), "key": "m", "value": 1.0, "timestamp": 1},
    ),
    Case(
        "POST",
        "/mlflow/runs/log-parameter",
        "write",
        lambda s: {**_run(s), "key": "p", "value": "v"},
    ),
    Case("POST", "/mlflow/runs/set-tag", "write", lambda s: {**_run(s), "key": "t", "value": "v"}),
    Case("POST", "/mlflow/runs/delete-tag", "write", lambda s: {**_run(s), "key": "rtag"}),
    Case(
        "POST",
        "/mlflow/runs/log-batch",
        "write",
        lambda s: {**_run(s), "metrics": [{"key": "b", "value": 1, "timestamp": 1}]},
    ),
    Case("POST", "/mlflow/runs/search", "read", lambda s: {"experiment_ids": [s.experiment_id]}),
    Case(
        "POST",
        "/mlflow/logged-models/search",
        "read",
        lambda s: {"experiment_ids": [s.experiment_id]},
    ),
    Case("GET", "/mlflow/metrics/get-history", "read", lambda s: {**_run(s), "metric_key": "m"}),
    Case("GET", "/mlflow/artifacts/list", "read", _run),
    Case("GET", _ART, "read", lambda s: {"path": s.artifact_root}),
    Case("GET", _ART + "/{artifact_path:path}", "read", url=lambda s: f"{s.artifact_root}/f.txt"),
    Case("PUT", _ART + "/{artifact_path:path}", "write", url=lambda s: f"{s.artifact_root}/n.txt"),
    Case(
        "DELETE", _ART + "/{artifact_path:path}", "write", url=lambda s: f"{s.artifact_root}/f.txt"
    ),
]


def _model(s: Stage) -> dict[str, str]:
    return {"name": s.model}


def _version(s: Stage) -> dict[str, str]:
    return {"name": s.model, "version": "1"}


_RM = "/mlflow/registered-models"
_MV = "/mlflow/model-versions"
REGISTRY = [
    Case("POST", f"{_RM}/create", "write", lambda s: {"name": s.model + "-new"}),
    Case("POST", f"{_RM}/rename", "write", lambda s: {**_model(s), "new_name": s.model + "-x"}),
    Case("PATCH", f"{_RM}/update", "write", lambda s: {**_model(s), "description": "d"}),
    Case("DELETE", f"{_RM}/delete", "admin", _model),
    Case("GET", f"{_RM}/get", "read", _model),
    Case("GET", f"{_RM}/search", "auth", lambda s: {"max_results": 5}),
    Case("POST", f"{_RM}/get-latest-versions", "read", _model),
    Case("GET", f"{_RM}/get-latest-versions", "read", _model),
    Case(
        "POST",
        f"{_MV}/create",
        "write",
        lambda s: {**_model(s), "source": f"runs:/{s.run_id}/f.txt"},
    ),
    Case("PATCH", f"{_MV}/update", "write", lambda s: {**_version(s), "description": "d"}),
    Case("POST", f"{_MV}/transition-stage", "write", lambda s: {**_version(s), "stage": "Staging"}),
    Case("DELETE", f"{_MV}/delete", "admin", _version),
    Case("GET", f"{_MV}/get", "read", _version),
    Case("GET", f"{_MV}/search", "auth", lambda s: {"filter": f"name = '{s.model}'"}),
    Case("GET", f"{_MV}/get-download-uri", "read", _version),
    Case("POST", f"{_RM}/set-tag", "write", lambda s: {**_model(s), "key": "k", "value": "v"}),
    Case("POST", f"{_MV}/set-tag", "write", lambda s: {**_version(s), "key": "k", "value": "v"}),
    Case("DELETE", f"{_RM}/delete-tag", "write", lambda s: {**_model(s), "key": "mtag"}),
    Case("DELETE", f"{_MV}/delete-tag", "write", lambda s: {**_version(s), "key": "vtag"}),
    Case("POST", f"{_RM}/alias", "write", lambda s: {**_model(s), "alias": "a2", "version": "1"}),
    Case("DELETE", f"{_RM}/alias", "write", lambda s: {**_model(s), "alias": "a1"}),
    Case("GET", f"{_RM}/alias", "read", lambda s: {**_model(s), "alias": "a1"}),
]
CASES = TRACKING + REGISTRY
_LM = "/mlflow/logged-models"
LOGGED_MODELS = [
    Case("POST", _LM, "write", _exp),
    Case("GET", _LM + "/{model_id}", "read", url=lambda s: s.model_id),
    Case(
        "PATCH",
        _LM + "/{model_id}",
        "write",
        lambda s: {"status": "LOGGED_MODEL_READY"},
        url=lambda s: s.model_id,
    ),
    Case("DELETE", _LM + "/{model_id}", "write", url=lambda s: s.model_id),
    Case(
        "PATCH",
        _LM + "/{model_id}/tags",
        "write",
        lambda s: {"tags": [{"key": "k", "value": "v"}]},
        url=lambda s: f"{s.model_id}/tags",
    ),
    Case(
        "DELETE",
        _LM + "/{model_id}/tags/{tag_key:path}",
        "write",
        url=lambda s: f"{s.model_id}/tags/ltag",
    ),
    Case(
        "POST",
        _LM + "/{model_id}/params",
        "write",
        lambda s: {"params": [{"key": "p", "value": "v"}]},
        url=lambda s: f"{s.model_id}/params",
    ),
    Case(
        "POST",
        "/mlflow/runs/outputs",
        "write",
        lambda s: {**_run(s), "models": [{"model_id": s.model_id, "step": 1}]},
    ),
    Case("GET", _ART, "read", lambda s: {"path": s.model_root}),
    Case("GET", _ART + "/{artifact_path:path}", "read", url=lambda s: f"{s.model_root}/f.txt"),
    Case("PUT", _ART + "/{artifact_path:path}", "write", url=lambda s: f"{s.model_root}/n.txt"),
    Case("DELETE", _ART + "/{artifact_path:path}", "write", url=lambda s: f"{s.model_root}/f.txt"),
]
CASES += LOGGED_MODELS
SERVER_INFO = Case("GET", "/api/3.0/mlflow/server-info", "auth")


def _expected(case: Case, caller: str | None) -> set[int]:
    if caller is None:
        return {401}
    if caller in ALLOWED[case.level]:
        return {200}
    return {404} if caller == "mallory" else {403}


def _stage(http: httpx.Client, *, with_model: bool) -> Stage:
    api = "/mlflow"
    name = f"team/rbac-{uuid.uuid4().hex}"
    created = http.post(f"{api}/experiments/create", json={"name": name})
    experiment_id = created.json()["experiment_id"]
    http.post(
        f"{api}/experiments/set-experiment-tag",
        json={"experiment_id": experiment_id, "key": "etag", "value": "v"},
    )
    run = http.post(f"{api}/runs/create", json={"experiment_id": experiment_id}).json()
    run_id = run["run"]["info"]["run_id"]
    http.post(f"{api}/runs/set-tag", json={"run_id": run_id, "key": "rtag", "value": "v"})
    put = http.put(f"{_ART}/{experiment_id}/{run_id}/artifacts/f.txt", content=b"file")
    assert put.status_code == 200, put.text
    stage = Stage(name, experiment_id, run_id)
    made_model = http.post(
        f"{api}/logged-models",
        json={"experiment_id": experiment_id, "tags": [{"key": "ltag", "value": "v"}]},
    )
    stage.model_id = made_model.json()["model"]["info"]["model_id"]
    put_model = http.put(f"{_ART}/{stage.model_root}/f.txt", content=b"file")
    assert put_model.status_code == 200, put_model.text
    if not with_model:
        return stage
    for path, body in (
        (f"{_RM}/create", {**_model(stage), "tags": [{"key": "mtag", "value": "v"}]}),
        (f"{_MV}/create", {**_model(stage), "source": f"runs:/{run_id}/f.txt"}),
        (f"{_MV}/set-tag", {**_version(stage), "key": "vtag", "value": "v"}),
        (f"{_RM}/alias", {**_model(stage), "alias": "a1", "version": "1"}),
    ):
        made = http.post(path, json=body)
        assert made.status_code == 200, made.text
    return stage


@pytest.fixture(scope="module")
def admin_http(world: MlflowWorld) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=world.url + "/api/2.0",
        headers={"authorization": f"Bearer {world.tokens['root']}"},
    ) as http:
        yield http


@pytest.fixture(scope="module")
def shared_stages(admin_http: httpx.Client) -> dict[bool, Stage]:
    """The things that cases which should change nothing act on, with and without a model."""
    return {with_model: _stage(admin_http, with_model=with_model) for with_model in (False, True)}


def _may_change(case: Case, caller: str | None) -> bool:
    """Whether the request may change what it acts on (a restore needs a deletion first)."""
    if case.path.endswith("/restore"):
        return True
    return case.level not in ("auth", "read") and caller in ALLOWED[case.level]


def _send(
    world: MlflowWorld, prefix: str, case: Case, caller: str | None, stage: Stage
) -> httpx.Response:
    headers = {} if caller is None else {"authorization": f"Bearer {world.tokens[caller]}"}
    path = prefix + (case.path.split("{")[0] + case.target(stage) if case.url else case.path)
    body = case.body(stage)
    with httpx.Client(base_url=world.url, headers=headers, timeout=30) as http:
        if case.method == "GET":
            return http.get(path, params=body)
        if case.method == "PUT":
            return http.put(path, content=b"new")
        return http.request(case.method, path, json=body)


def _check(
    world: MlflowWorld,
    admin_http: httpx.Client,
    shared_stages: dict[bool, Stage],
    prefix: str,
    case: Case,
    caller: str | None,
) -> None:
    with_model = case.path.startswith((_RM, _MV))
    if _may_change(case, caller):
        stage = _stage(admin_http, with_model=with_model)
    else:
        stage = shared_stages[with_model]
    if case.path.endswith("/restore"):
        deleted = admin_http.post(case.path.replace("restore", "delete"), json=case.body(stage))
        assert deleted.status_code == 200, deleted.text
    response = _send(world, prefix, case, caller, stage)
    assert response.status_code in _expected(case, caller), response.text
    if response.status_code >= 400:
        assert set(response.json()) == {"error_code", "message"}


@pytest.mark.slow
@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c or "anonymous")
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
def test_mlflow_rbac_matrix(
    world: MlflowWorld,
    admin_http: httpx.Client,
    shared_stages: dict[bool, Stage],
    case: Case,
    caller: str | None,
) -> None:
    _check(world, admin_http, shared_stages, PREFIXES[0], case, caller)


# The web UI's prefix serves the same handlers behind the same guards: the weakest caller who
# may and the strongest who may not are enough to show the guard is there.
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
def test_ajax_prefix_is_guarded_alike(
    world: MlflowWorld, admin_http: httpx.Client, shared_stages: dict[bool, Stage], case: Case
) -> None:
    weakest = next(c for c in CALLERS if c in ALLOWED[case.level])
    strongest_refused = [c for c in CALLERS if c not in ALLOWED[case.level]][-1]
    for caller in (weakest, strongest_refused):
        _check(world, admin_http, shared_stages, PREFIXES[1], case, caller)


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c or "anonymous")
def test_server_info_needs_a_token(world: MlflowWorld, caller: str | None) -> None:
    headers = {} if caller is None else {"authorization": f"Bearer {world.tokens[caller]}"}
    response = httpx.get(world.url + SERVER_INFO.path, headers=headers)
    assert response.status_code in _expected(SERVER_INFO, caller)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_matrix_covers_every_mlflow_route(settings: Settings) -> None:
    """tests/server/test_rbac_matrix.py leaves MLflow's routes to this module."""
    runtime = Runtime(settings)
    try:
        served = {
            (method, route.path)
            for route in route_table(create_app(runtime))
            if route.dependant is not None and is_mlflow_path(route.path)
            for method in route.methods
        }
    finally:
        runtime.close()
    covered = {(c.method, p + c.path) for c in CASES for p in PREFIXES}
    covered.add((SERVER_INFO.method, SERVER_INFO.path))
    assert served == covered
