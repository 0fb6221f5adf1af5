"""MLflow's error codes, HTTP statuses and limits, and Corridor's access rules on its surface."""

from __future__ import annotations

import httpx
import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from corridor.client.client import Client
from corridor.errors import (
    AlreadyExists,
    BlobCorrupted,
    Conflict,
    CorridorError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from corridor.mlflow_compat.errors import is_mlflow_path, mlflow_error
from tests.mlflow_compat.conftest import Connect, MlflowWorld

API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def team_run(world: MlflowWorld) -> str:
    """A run in project ``team``, made by its editor."""
    with httpx.Client(base_url=world.url, headers=_auth(world, "ed"), timeout=30) as http:
        created = http.post(f"{API}/experiments/create", json={"name": "team/errors"})
        experiment_id = created.json()["experiment_id"]
        run = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id})
        return str(run.json()["run"]["info"]["run_id"])


def _auth(world: MlflowWorld, user: str | None) -> dict[str, str]:
    return {} if user is None else {"authorization": f"Bearer {world.tokens[user]}"}


def _call(
    world: MlflowWorld, user: str | None, method: str, path: str, body: object = None
) -> httpx.Response:
    with httpx.Client(base_url=world.url, headers=_auth(world, user), timeout=30) as http:
        if method == "GET":
            return http.get(path, params=body)  # type: ignore[arg-type]
        return http.request(method, path, json=body)


def _error(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["message"]
    return str(body["error_code"])


def test_no_token_is_unauthenticated_401(world: MlflowWorld, team_run: str) -> None:
    response = _call(world, None, "GET", f"{API}/runs/get", {"run_id": team_run})
    assert response.status_code == 401
    assert _error(response) == "UNAUTHENTICATED"


def test_a_bad_token_is_unauthenticated_through_the_client(
    world: MlflowWorld, connect: Connect, team_run: str
) -> None:
    client = connect(world.url, "cor_" + "x" * 43)
    with pytest.raises(MlflowException) as refused:
        client.get_run(team_run)
    assert refused.value.error_code == "UNAUTHENTICATED"
    assert refused.value.get_http_status_code() == 401


def test_viewer_writing_is_permission_denied_403(
    world: MlflowWorld, connect: Connect, team_run: str
) -> None:
    viewer = connect(world.url, world.tokens["vic"])
    assert viewer.get_run(team_run).info.run_id == team_run
    with pytest.raises(MlflowException) as refused:
        viewer.log_metric(team_run, "loss", 1.0)
    assert refused.value.error_code == "PERMISSION_DENIED"
    response = _call(
        world, "vic", "POST", f"{API}/runs/set-tag", {"run_id": team_run, "key": "k", "value": "v"}
    )
    assert response.status_code == 403
    assert _error(response) == "PERMISSION_DENIED"


def test_outsider_sees_exactly_what_a_missing_run_looks_like(
    world: MlflowWorld, team_run: str
) -> None:
    absent = "0" * 32
    hidden = _call(world, "mallory", "GET", f"{API}/runs/get", {"run_id": team_run})
    missing = _call(world, "mallory", "GET", f"{API}/runs/get", {"run_id": absent})
    assert hidden.status_code == missing.status_code == 404
    assert _error(hidden) == _error(missing) == "RESOURCE_DOES_NOT_EXIST"
    assert hidden.json()["message"] == missing.json()["message"].replace(absent, team_run)
    writing = _call(
        world,
        "mallory",
        "POST",
        f"{API}/runs/log-metric",
        {"run_id": team_run, "key": "k", "value": 1, "timestamp": 1},
    )
    assert writing.status_code == 404
    assert _error(writing) == "RESOURCE_DOES_NOT_EXIST"


def test_outsider_cannot_find_an_experiment_by_name_or_create_in_a_hidden_workspace(
    world: MlflowWorld, connect: Connect
) -> None:
    connect(world.url, world.tokens["alice"]).create_experiment("team/private")
    outsider = connect(world.url, world.tokens["mallory"])
    assert outsider.get_experiment_by_name("team/private") is None
    in_workspace = connect(world.url, world.tokens["mallory"], workspace="team")
    with pytest.raises(MlflowException) as refused:
        in_workspace.create_experiment("sneaky")
    assert refused.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_creating_an_existing_experiment_is_resource_already_exists_400(
    world: MlflowWorld, connect: Connect
) -> None:
    client = connect(world.url, world.tokens["alice"])
    client.create_experiment("team/twice")
    with pytest.raises(MlflowException) as refused:
        client.create_experiment("team/twice")
    assert refused.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert refused.value.get_http_status_code() == 400


def test_missing_and_invalid_parameters_are_invalid_parameter_value_400(
    world: MlflowWorld, team_run: str
) -> None:
    missing = _call(world, "ed", "POST", f"{API}/runs/log-metric", {"run_id": team_run})
    assert missing.status_code == 400
    assert _error(missing) == "INVALID_PARAMETER_VALUE"
    assert "key" in missing.json()["message"]
    not_a_number = _call(
        world,
        "ed",
        "POST",
        f"{API}/runs/log-metric",
        {"run_id": team_run, "key": "k", "value": "high", "timestamp": 1},
    )
    assert _error(not_a_number) == "INVALID_PARAMETER_VALUE"
    with httpx.Client(base_url=world.url, headers=_auth(world, "ed"), timeout=30) as http:
        broken = http.post(f"{API}/runs/set-tag", content=b"{not json")
    assert broken.status_code == 400
    assert _error(broken) == "INVALID_PARAMETER_VALUE"


def test_unknown_mlflow_endpoints_are_endpoint_not_found(world: MlflowWorld) -> None:
    response = _call(world, "ed", "GET", f"{API}/no-such-thing")
    assert response.status_code == 404
    assert _error(response) == "ENDPOINT_NOT_FOUND"


def test_corridor_api_keeps_its_own_error_shape(world: MlflowWorld) -> None:
    response = _call(world, "mallory", "GET", "/api/v1/projects/team")
    assert response.status_code == 404
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    ("metrics", "params", "tags"),
    [(1001, 0, 0), (0, 101, 0), (0, 0, 101)],
    ids=["1001-metrics", "101-params", "101-tags"],
)
def test_log_batch_over_mlflow_limits_is_refused_and_writes_nothing(
    world: MlflowWorld, connect: Connect, team_run: str, metrics: int, params: int, tags: int
) -> None:
    # Sent as raw requests: the MLflow client splits big batches itself before sending.
    prefix = f"limit{metrics}{params}{tags}"
    body = {
        "run_id": team_run,
        "metrics": [
            {"key": f"{prefix}m", "value": 1.0, "timestamp": 1, "step": i} for i in range(metrics)
        ],
        "params": [{"key": f"{prefix}p{i}", "value": "v"} for i in range(params)],
        "tags": [{"key": f"{prefix}t{i}", "value": "v"} for i in range(tags)],
    }
    response = _call(world, "ed", "POST", f"{API}/runs/log-batch", body)
    assert response.status_code == 400
    assert _error(response) == "INVALID_PARAMETER_VALUE"
    data = connect(world.url, world.tokens["ed"]).get_run(team_run).data
    assert not [k for k in (*data.metrics, *data.params, *data.tags) if k.startswith(prefix)]


def test_log_batch_over_1000_entities_in_total_is_refused(
    world: MlflowWorld, connect: Connect, team_run: str
) -> None:
    body = {
        "run_id": team_run,
        "metrics": [{"key": "total", "value": 1.0, "timestamp": 1, "step": i} for i in range(950)],
        "params": [{"key": f"total_p{i}", "value": "v"} for i in range(51)],
    }
    response = _call(world, "ed", "POST", f"{API}/runs/log-batch", body)
    assert response.status_code == 400
    assert _error(response) == "INVALID_PARAMETER_VALUE"
    assert "at most 1000 metrics, params and tags in total" in response.json()["message"]
    data = connect(world.url, world.tokens["ed"]).get_run(team_run).data
    assert not [k for k in (*data.metrics, *data.params) if k.startswith("total")]


def test_log_batch_at_mlflow_limits_is_accepted(
    world: MlflowWorld, connect: Connect, team_run: str
) -> None:
    client = connect(world.url, world.tokens["ed"])
    client.log_batch(
        team_run,
        metrics=[Metric("at_limit", float(i), 1, i) for i in range(1000)],
        params=[Param(f"at_limit_p{i}", "v") for i in range(100)],
        tags=[RunTag(f"at_limit_t{i}", "v") for i in range(100)],
    )
    assert len(client.get_metric_history(team_run, "at_limit")) == 1000
    assert len([k for k in client.get_run(team_run).data.params if k.startswith("at_limit")]) == 100


def test_a_batch_with_one_bad_entry_writes_nothing(
    world: MlflowWorld, connect: Connect, team_run: str
) -> None:
    client = connect(world.url, world.tokens["ed"])
    with pytest.raises(MlflowException) as refused:
        client.log_batch(
            team_run,
            metrics=[Metric("good_metric", 1.0, 1, 0)],
            params=[Param("good_param", "v")],
            tags=[RunTag("../escape", "v")],
        )
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    data = client.get_run(team_run).data
    assert "good_metric" not in data.metrics
    assert "good_param" not in data.params
    assert client.get_metric_history(team_run, "good_metric") == []


def test_a_deleted_run_refuses_logging_with_invalid_parameter_value(
    world: MlflowWorld, connect: Connect
) -> None:
    client = connect(world.url, world.tokens["ed"])
    experiment_id = client.create_experiment("team/deleted-runs")
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)
    with pytest.raises(MlflowException) as refused:
        client.log_param(run_id, "p", "v")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_mlflow_writes_and_refusals_are_audited(world: MlflowWorld, team_run: str) -> None:
    _call(
        world, "ed", "POST", f"{API}/runs/set-tag", {"run_id": team_run, "key": "a", "value": "1"}
    )
    _call(world, "mallory", "GET", f"{API}/runs/get", {"run_id": team_run})
    with httpx.Client(base_url=world.url, headers=_auth(world, "root"), timeout=30) as http:
        events = http.get("/api/v1/audit", params={"limit": 1000}).json()
        assert http.get("/api/v1/audit/verify").json()["ok"] is True
    wrote = [e for e in events if e["action"] == "mlflow_compat.set_tag" and e["actor"] == "ed"]
    assert wrote
    assert wrote[-1]["outcome"] == "success"
    hidden = [e for e in events if e["action"] == "mlflow_compat.get_run"]
    assert hidden
    assert hidden[-1]["actor"] == "mallory"
    assert hidden[-1]["outcome"] == "denied"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidInput("x"), 400, "INVALID_PARAMETER_VALUE"),
        (Unauthenticated("x"), 401, "UNAUTHENTICATED"),
        (PermissionDenied("x"), 403, "PERMISSION_DENIED"),
        (NotFound("x"), 404, "RESOURCE_DOES_NOT_EXIST"),
        (AlreadyExists("x"), 400, "RESOURCE_ALREADY_EXISTS"),
        (Conflict("x"), 400, "INVALID_PARAMETER_VALUE"),
        (BlobCorrupted("x"), 500, "DATA_LOSS"),
        (Unavailable("x"), 503, "TEMPORARILY_UNAVAILABLE"),
        (CorridorError("x"), 500, "INTERNAL_ERROR"),
    ],
)
def test_each_corridor_error_has_one_mlflow_code_and_status(
    error: CorridorError, status: int, code: str
) -> None:
    mapped = mlflow_error(error.status_code, error.code)
    assert (mapped.status, mapped.error_code) == (status, code)


def test_an_unrouted_mlflow_path_is_endpoint_not_found() -> None:
    assert mlflow_error(404, "not_found", routed=False).error_code == "ENDPOINT_NOT_FOUND"
    assert is_mlflow_path("/ajax-api/2.0/mlflow/runs/get")
    assert is_mlflow_path("/api/2.0/mlflow-artifacts/artifacts/1")
    assert not is_mlflow_path("/api/v1/projects")


def test_a_run_of_a_deleted_project_stays_gone_when_the_name_is_taken_again(
    world: MlflowWorld, connect: Connect
) -> None:
    """The server remembers which project a run id is in; that must not outlive the run."""
    with Client(world.url, token=world.tokens["alice"]) as alice:
        alice.create_project("brief")
    client = connect(world.url, world.tokens["alice"])
    run_id = client.create_run(client.create_experiment("brief/exp")).info.run_id
    assert client.get_run(run_id).info.run_id == run_id
    with Client(world.url, token=world.tokens["alice"]) as alice:
        alice.request("DELETE", "/api/v1/projects/brief")
    with Client(world.url, token=world.tokens["mallory"]) as mallory:
        mallory.create_project("brief")
    for user in ("alice", "mallory"):
        response = _call(world, user, "GET", f"{API}/runs/get", {"run_id": run_id})
        assert response.status_code == 404
        assert _error(response) == "RESOURCE_DOES_NOT_EXIST"
