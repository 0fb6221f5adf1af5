"""Starting a server-driven run: its driver job, and the run token it carries, which acts as the
run's creator in the run's project only and dies with the run."""

from __future__ import annotations

import pytest

from corridor.compute.models import Job
from corridor.compute.sansio import payload
from corridor.data.sansio.sensitivity import Sensitivity
from corridor.errors import PermissionDenied
from corridor.pipelines import run_tokens, runs
from corridor.pipelines.run_starts import start_queued_run
from corridor.security.models import Token, User
from corridor.security.token_view import TokenView
from tests.pipelines.server_world import PipelinesWorld, pw

__all__ = ["pw"]


def _start(pw: PipelinesWorld, run_id: str) -> tuple[Job, str]:
    """Start the queued run as the loop does; its driver job and the token in the job's input."""
    with pw.runtime.db.write() as session:
        start_queued_run(session, pw.runtime, runs.get(session, run_id))
    with pw.runtime.db.read() as session:
        run = runs.get(session, run_id)
        assert run.state == "running"
        assert run.driver_job_id is not None
        job = session.get_one(Job, run.driver_job_id)
    assert job.input_digest is not None
    with pw.runtime.blobs.open(job.input_digest) as stream:
        call = payload.decode_input(stream.read())
    assert isinstance(call, payload.Call)
    assert call.kwargs["run_id"] == run_id
    return job, str(call.kwargs["token"])


def test_a_started_run_queues_its_driver_job_over_the_runs_snapshot(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run(driver="job", trigger="api", params={"n": 2})
    job, _ = _start(pw, run["id"])
    assert job.spec["function"] == {
        "module": "corridor.pipelines.driver.driver_job",
        "qualname": "drive",
        "source": "installed",
    }
    assert job.snapshot_digest == pw.snapshot
    assert job.name == "pipeline etl run 1"
    assert job.retries == 2
    assert job.state == "queued"
    assert pw.view(run["id"])["run"]["driver_job_id"] == job.id


def test_a_run_token_acts_as_its_creator_in_the_runs_project_only(pw: PipelinesWorld) -> None:
    # root administers the server; its run's token still reaches only the run's project.
    pw.register(user="root")
    run = pw.run(user="root", driver="job", trigger="api")
    _, secret = _start(pw, run["id"])
    auth = {"authorization": f"Bearer {secret}"}
    assert pw.http.get(f"/api/v1/pipeline-runs/{run['id']}", headers=auth).status_code == 200
    begun = pw.http.post(
        f"/api/v1/pipeline-runs/{run['id']}/steps/begin",
        json={"steps": [{"key": "a", "step": "a", "in_process": True}]},
        headers=auth,
    )
    assert begun.status_code == 200, begun.text
    assert pw.http.get("/api/v1/auth/whoami", headers=auth).json()["name"] == "root"
    for method, path, body in [
        ("GET", "/api/v1/projects/q/pipelines", None),
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/tokens", {"name": "escape"}),
        ("POST", "/api/v1/projects", {"name": "elsewhere"}),
        ("DELETE", "/api/v1/projects/p", None),
    ]:
        response = pw.http.request(method, path, json=body, headers=auth)
        assert response.status_code == 403, (path, response.text)
        assert "pipeline run's" in response.json()["error"]["message"]


def test_the_run_token_is_revoked_when_the_run_ends(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run(driver="job", trigger="api")
    _, secret = _start(pw, run["id"])
    auth = {"authorization": f"Bearer {secret}"}
    ended = pw.http.post(
        f"/api/v1/pipeline-runs/{run['id']}/finish", json={"state": "succeeded"}, headers=auth
    )
    assert ended.status_code == 200, ended.text
    again = pw.http.get(f"/api/v1/pipeline-runs/{run['id']}", headers=auth)
    assert again.status_code == 401
    assert "revoked" in again.json()["error"]["message"]


def test_a_run_token_cannot_invoke_deployments(pw: PipelinesWorld) -> None:
    pw.register()
    run = pw.run(driver="job", trigger="api")
    _, secret = _start(pw, run["id"])
    view = TokenView(pw.runtime.db)
    view.load()
    with pytest.raises(PermissionDenied, match="cannot invoke deployments"):
        view.authenticate(secret)


def test_a_local_admins_run_acts_as_the_homes_first_admin(pw: PipelinesWorld) -> None:
    pw.register()
    run_id = pw.run(driver="job")["id"]
    with pw.runtime.db.write() as session:
        run = runs.get(session, run_id)
        run.created_by_user_id = None
        token_id, _ = run_tokens.mint(session, run)
        token = session.get_one(Token, token_id)
        owner = session.get_one(User, token.user_id)
        assert owner.is_admin
        assert owner.name == "admin"  # the home's first administrator, by name
        assert token.project_scope == run.project_id
        assert token.pipeline_run_id == run.id


def test_a_run_token_cannot_reach_another_project_through_any_door(pw: PipelinesWorld) -> None:
    """Not through a reference inside its own project's request (a job reading another
    project's dataset), nor through the MLflow routes' workspace, nor in the project list."""
    pw.cw.ingest("q", "sales", regions=[], sensitivity=Sensitivity.INTERNAL)
    pw.register(user="root")
    run = pw.run(user="root", driver="job", trigger="api")
    _, secret = _start(pw, run["id"])
    auth = {"authorization": f"Bearer {secret}"}
    job = pw.http.post(
        "/api/v1/projects/p/jobs",
        json={"command": ["true"], "datasets": ["q/sales@1"]},
        headers=auth,
    )
    assert job.status_code == 403, job.text
    mlflow = pw.http.post(
        "/api/2.0/mlflow/experiments/search",
        json={"max_results": 10},
        headers={**auth, "x-mlflow-workspace": "q"},
    )
    assert mlflow.status_code == 403, mlflow.text
    listed = pw.http.get("/api/v1/projects", headers=auth).json()
    assert [p["name"] for p in listed] == ["p"]
    # The same user's own token still reaches q.
    assert pw.http.get("/api/v1/projects/q", headers=pw.auth("root")).status_code == 200
