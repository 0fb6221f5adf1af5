"""Every route against every kind of caller: who gets through, who gets 403, who sees nothing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from corridor.client.transport import InProcessTransport
from corridor.config import Settings
from corridor.mlflow_compat.errors import is_mlflow_path
from corridor.runtime import Runtime
from corridor.security import identity
from corridor.server.app import create_app, route_table
from tests.compute.seed import seed_compute, snapshot_archive
from tests.conftest import clean_env, sqlite_url
from tests.data.seed import seed_data
from tests.pipelines.seed import seed_pipelines
from tests.registry.seed import seed_registry
from tests.server.conftest import World, build_world
from tests.serving.seed import seed_serving
from tests.training.seed import seed_tuning

# Every caller logs in as ``pat``, a user with a password made for the login row.
PASSWORD = "correct horse battery staple"
CALLERS = (None, "nobody", "mallory", "vic", "ed", "alice", "root")
# The lowest rank that may call each kind of route; ranks follow CALLERS' order.
RANK = {None: 0, "nobody": 1, "mallory": 1, "vic": 2, "ed": 3, "alice": 4, "root": 5}
LEVEL_RANK = {"public": 0, "auth": 1, "viewer": 2, "editor": 3, "admin": 4, "server": 5}
# "job": only a job token of the route's own job and attempt (no user, not even an admin).


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    level: str
    body: Any = None
    url: str = ""
    content: bytes | None = None  # a raw body instead of JSON

    @property
    def target(self) -> str:
        return self.url or self.path


EXPS = "/api/v1/projects/{project}/experiments"
EXP = EXPS + "/{experiment_id}"
P_EXPS = "/api/v1/projects/p/experiments"
RUN = "/api/v1/runs/{run_id}"
ARTIFACT = "/api/v1/artifacts/{run_id}/{path:path}"
HISTORY = "metrics/history?key=acc"


M = "/api/v1/projects/{project}/models/{name:model_name}"
MV = M + "/versions/{version}"
P_M = "/api/v1/projects/p/models/m"


DS = "/api/v1/projects/{project}/datasets"
D = DS + "/{name}"
DV = D + "/versions/{version}"
P_DS = "/api/v1/projects/p/datasets"
P_D = P_DS + "/d"
P_DV = P_D + "/versions/1"


JOBS = "/api/v1/projects/{project}/jobs"
P_JOBS = "/api/v1/projects/p/jobs"
JOB = "/api/v1/jobs/{job_id}"
SNAP = "/api/v1/snapshot-uploads/{project}/{digest}"
WORK = JOB + "/attempts/{attempt}"
LIVE = "/api/v1/jobs/JOBLIVE/attempts/1"
SNAPSHOT = snapshot_archive()


DEPS = "/api/v1/projects/{project}/deployments"
P_DEPS = "/api/v1/projects/p/deployments"


PIPES = "/api/v1/projects/{project}/pipelines"
P_PIPES = "/api/v1/projects/p/pipelines"
PRUN = "/api/v1/pipeline-runs/{run_id}"
LIVE_RUN = "/api/v1/pipeline-runs/PRUNLIVE"

STUDIES = "/api/v1/projects/{project}/studies"
STUDY = STUDIES + "/{study_id}"
P_STUDY = "/api/v1/projects/p/studies/STUDYID"
TRIAL = "/api/v1/projects/{project}/trials/{trial_id}"
P_TRIAL = "/api/v1/projects/p/trials/TRIALID"


CASES = [
    Case("GET", "/healthz", "public"),
    Case("GET", "/metrics", "server"),
    Case("POST", "/api/v1/auth/login", "public", {"username": "pat", "password": PASSWORD}),
    Case("GET", "/api/v1/auth/whoami", "auth"),
    Case("POST", "/api/v1/users", "server", {"name": "newbie"}),
    Case("GET", "/api/v1/users", "server"),
    Case("POST", "/api/v1/tokens", "auth", {"name": "more"}),
    Case("GET", "/api/v1/tokens", "auth"),
    Case("DELETE", "/api/v1/tokens/{token_id}", "auth", url="/api/v1/tokens/OWN"),
    Case("POST", "/api/v1/projects", "auth", {"name": "fresh"}),
    Case("GET", "/api/v1/projects", "auth"),
    Case("GET", "/api/v1/projects/{project}", "viewer", url="/api/v1/projects/p"),
    Case(
        "PATCH",
        "/api/v1/projects/{project}",
        "editor",
        {"description": "d"},
        url="/api/v1/projects/p",
    ),
    Case("DELETE", "/api/v1/projects/{project}", "admin", url="/api/v1/projects/p"),
    Case(
        "PUT",
        "/api/v1/projects/{project}/pickle",
        "server",
        {"allowed": True},
        url="/api/v1/projects/p/pickle",
    ),
    Case("GET", "/api/v1/projects/{project}/members", "viewer", url="/api/v1/projects/p/members"),
    Case(
        "PUT",
        "/api/v1/projects/{project}/members/{user}",
        "admin",
        {"role": "viewer"},
        url="/api/v1/projects/p/members/nobody",
    ),
    Case(
        "DELETE",
        "/api/v1/projects/{project}/members/{user}",
        "admin",
        url="/api/v1/projects/p/members/vic",
    ),
    Case("GET", "/api/v1/audit", "server"),
    Case("GET", "/api/v1/audit/verify", "server"),
    # Tracking: XEXP, XRUN... are ids from the world (see tests/tracking/seed.py).
    Case("POST", EXPS, "editor", {"name": "fresh"}, url="/api/v1/projects/p/experiments"),
    Case("GET", EXPS, "viewer", url="/api/v1/projects/p/experiments?filter=name%20LIKE%20'p/%25'"),
    Case("GET", EXP, "viewer", url=f"{P_EXPS}/XEXP"),
    Case("PATCH", EXP, "editor", {"name": "renamed"}, url=f"{P_EXPS}/XEXP"),
    Case("DELETE", EXP, "editor", url=f"{P_EXPS}/XEXP"),
    Case("POST", f"{EXP}/restore", "editor", url=f"{P_EXPS}/XDELEXP/restore"),
    Case("PUT", f"{EXP}/tags", "editor", {"key": "k2", "value": "v"}, url=f"{P_EXPS}/XEXP/tags"),
    Case("DELETE", f"{EXP}/tags", "editor", url=f"{P_EXPS}/XEXP/tags?key=k"),
    Case("POST", f"{EXP}/runs", "editor", {"run_name": "r"}, url=f"{P_EXPS}/XEXP/runs"),
    Case("GET", "/api/v1/projects/{project}/runs", "viewer", url="/api/v1/projects/p/runs"),
    Case("GET", RUN, "viewer", url="/api/v1/runs/XRUN"),
    Case("PATCH", RUN, "editor", {"status": "FINISHED"}, url="/api/v1/runs/XRUN"),
    Case("DELETE", RUN, "editor", url="/api/v1/runs/XRUN"),
    Case("POST", f"{RUN}/restore", "editor", url="/api/v1/runs/XDELRUN/restore"),
    Case(
        "POST",
        f"{RUN}/batch",
        "editor",
        {"metrics": [{"key": "m", "value": 1, "timestamp": 1}], "params": [], "tags": []},
        url="/api/v1/runs/XRUN/batch",
    ),
    Case("DELETE", f"{RUN}/tags", "editor", url="/api/v1/runs/XRUN/tags?key=k"),
    Case("GET", f"{RUN}/metrics/history", "viewer", url=f"/api/v1/runs/XRUN/{HISTORY}"),
    Case("GET", "/api/v1/artifacts/{run_id}", "viewer", url="/api/v1/artifacts/XRUN?path="),
    Case("PUT", ARTIFACT, "editor", {"any": "bytes"}, url="/api/v1/artifacts/XRUN/new.json"),
    Case("GET", ARTIFACT, "viewer", url="/api/v1/artifacts/XRUN/f.txt"),
    Case("DELETE", ARTIFACT, "editor", url="/api/v1/artifacts/XRUN/f.txt"),
    # Registry: model p/m, version 1 (file model.json), alias prod, tag k (tests/registry/seed.py).
    Case("POST", "/api/v1/blobs/{project}", "editor", {"any": "bytes"}, url="/api/v1/blobs/p"),
    Case("GET", "/api/v1/models", "auth"),
    Case(
        "GET",
        "/api/v1/projects/{project}/resolve",
        "viewer",
        url="/api/v1/projects/p/resolve?uri=models:/p/m@prod",
    ),
    Case("GET", f"{MV}/manifest", "viewer", url=f"{P_M}/versions/1/manifest"),
    Case("GET", f"{MV}/files/{{path:path}}", "viewer", url=f"{P_M}/versions/1/files/model.json"),
    Case("GET", f"{MV}/lineage", "viewer", url=f"{P_M}/versions/1/lineage"),
    Case("GET", f"{MV}/signature", "viewer", url=f"{P_M}/versions/1/signature"),
    Case("GET", "/api/v1/signing-keys", "auth"),
    Case("POST", "/api/v1/admin/signing-keys/rotate", "server"),
    Case("POST", "/api/v1/admin/signing-keys/sign-missing", "server"),
    Case(
        "GET",
        "/api/v1/projects/{project}/lineage",
        "viewer",
        url="/api/v1/projects/p/lineage?kind=run&id=XRUN",
    ),
    Case("GET", "/api/v1/projects/{project}/models", "viewer", url="/api/v1/projects/p/models"),
    Case(
        "POST",
        "/api/v1/projects/{project}/models",
        "editor",
        {"name": "fresh"},
        url="/api/v1/projects/p/models",
    ),
    Case("GET", f"{M}/versions", "viewer", url=f"{P_M}/versions"),
    Case(
        "POST",
        f"{M}/versions",
        "editor",
        {"source": "models:/p/m/1"},  # a copy: a run source must name a run the caller reads
        url=f"{P_M}/versions",
    ),
    Case("PUT", f"{MV}/tags", "editor", {"key": "k2", "value": "v"}, url=f"{P_M}/versions/1/tags"),
    Case("DELETE", f"{MV}/tags", "editor", url=f"{P_M}/versions/1/tags?key=k"),
    Case("POST", f"{MV}/stage", "editor", {"stage": "Staging"}, url=f"{P_M}/versions/1/stage"),
    Case("GET", MV, "viewer", url=f"{P_M}/versions/1"),
    Case("PATCH", MV, "editor", {"description": "d"}, url=f"{P_M}/versions/1"),
    Case("DELETE", MV, "admin", url=f"{P_M}/versions/1"),
    Case("GET", f"{M}/aliases/{{alias}}", "viewer", url=f"{P_M}/aliases/prod"),
    Case("PUT", f"{M}/aliases/{{alias}}", "editor", {"version": 1}, url=f"{P_M}/aliases/new"),
    Case("DELETE", f"{M}/aliases/{{alias}}", "editor", url=f"{P_M}/aliases/prod"),
    Case("PUT", f"{M}/tags", "editor", {"key": "k2", "value": "v"}, url=f"{P_M}/tags"),
    Case("DELETE", f"{M}/tags", "editor", url=f"{P_M}/tags?key=k"),
    Case("GET", M, "viewer", url=P_M),
    Case("PATCH", M, "editor", {"description": "d"}, url=P_M),
    Case("DELETE", M, "admin", url=P_M),
    # Data: dataset p/d, version 1, with validation, profile and PII reports (tests/data/seed.py).
    Case("GET", DS, "viewer", url=P_DS),
    Case("GET", D, "viewer", url=P_D),
    Case("POST", D + "/versions", "editor", {"version": "d@1"}, url=f"{P_DS}/copy/versions"),
    Case(
        "POST",
        "/api/v1/dataset-uploads/{project}/{name}",
        "editor",
        {"any": "bytes"},
        url="/api/v1/dataset-uploads/p/up",
    ),
    Case("GET", DV, "viewer", url=P_DV),
    Case("GET", DV + "/data", "viewer", url=P_DV + "/data"),
    Case(
        "POST", DV + "/validate", "editor", {"suite": {"expectations": []}}, url=P_DV + "/validate"
    ),
    Case("GET", DV + "/validation", "viewer", url=P_DV + "/validation"),
    Case(
        "POST",
        DV + "/clean",
        "editor",
        {"recipe": {"steps": []}, "output": "cleaned"},
        url=P_DV + "/clean",
    ),
    Case("POST", DV + "/profile", "editor", url=P_DV + "/profile"),
    Case("GET", DV + "/profile", "viewer", url=P_DV + "/profile"),
    Case("GET", D + "/diff", "viewer", url=P_D + "/diff?a=1&b=latest"),
    Case("POST", DV + "/pii", "editor", {}, url=P_DV + "/pii"),
    Case("GET", DV + "/pii", "viewer", url=P_DV + "/pii"),
    Case(
        "POST",
        DV + "/mask",
        "editor",
        {"plan": {"rules": [{"column": "b", "operator": "redact"}]}, "output": "masked"},
        url=P_DV + "/mask",
    ),
    Case("DELETE", DV, "admin", url=P_DV),
    Case("DELETE", D, "admin", url=P_D),
    # Compute: jobs JOBDONE (succeeded), JOBQUEUED, JOBLIVE (running, attempt 1) and snapshot
    # SNAPDIGEST in p (tests/compute/seed.py).
    Case("POST", JOBS, "editor", {"command": ["true"]}, url=P_JOBS),
    Case(
        "POST", JOBS + "/batch", "editor", {"jobs": [{"command": ["true"]}]}, url=P_JOBS + "/batch"
    ),
    Case("GET", JOBS, "viewer", url=P_JOBS),
    Case("HEAD", SNAP, "editor", url="/api/v1/snapshot-uploads/p/SNAPDIGEST"),
    Case("PUT", SNAP, "editor", url="/api/v1/snapshot-uploads/p/SNAPDIGEST", content=SNAPSHOT),
    Case("GET", JOB, "viewer", url="/api/v1/jobs/JOBDONE"),
    Case("GET", JOB + "/wait", "viewer", url="/api/v1/jobs/JOBDONE/wait?timeout_s=0"),
    Case("GET", JOB + "/logs", "viewer", url="/api/v1/jobs/JOBDONE/logs"),
    Case("GET", JOB + "/result", "viewer", url="/api/v1/jobs/JOBDONE/result"),
    Case("POST", JOB + "/cancel", "editor", url="/api/v1/jobs/JOBQUEUED/cancel"),
    Case("GET", JOB + "/explain", "viewer", url="/api/v1/jobs/JOBDONE/explain"),
    Case("GET", JOB + "/attempts", "viewer", url="/api/v1/jobs/JOBLIVE/attempts"),
    Case("GET", "/api/v1/sites", "auth"),
    Case("GET", "/api/v1/energy/report", "auth"),
    # Worker routes take only the job token of their attempt (tests/compute/test_job_tokens.py).
    Case("GET", WORK + "/work", "job", url=LIVE + "/work"),
    Case("GET", WORK + "/snapshot", "job", url=LIVE + "/snapshot"),
    Case("GET", WORK + "/input", "job", url=LIVE + "/input"),
    Case("GET", WORK + "/datasets/{index}", "job", url=LIVE + "/datasets/0"),
    Case("POST", WORK + "/started", "job", {"host": "h", "pid": 1}, url=LIVE + "/started"),
    Case("POST", WORK + "/heartbeat", "job", {}, url=LIVE + "/heartbeat"),
    Case("POST", WORK + "/logs", "job", url=LIVE + "/logs?seq=0"),
    Case("PUT", WORK + "/result", "job", url=LIVE + "/result"),
    Case("POST", WORK + "/finished", "job", {"exit_code": 0}, url=LIVE + "/finished"),
    Case(
        "POST",
        WORK + "/run-metrics",
        "job",
        {"metrics": [{"key": "m", "value": 1, "timestamp_ms": 1}]},
        url=LIVE + "/run-metrics",
    ),
    # Studies: study s with one trial in p (tests/training/seed.py).
    Case("GET", STUDIES, "viewer", url="/api/v1/projects/p/studies"),
    Case(
        "POST",
        STUDIES,
        "editor",
        {"name": "fresh", "directions": ["minimize"]},
        url="/api/v1/projects/p/studies",
    ),
    Case("GET", STUDY, "viewer", url=P_STUDY),
    Case("DELETE", STUDY, "admin", url=P_STUDY),
    Case(
        "PUT",
        STUDY + "/attrs/{kind}",
        "editor",
        {"key": "k", "value_json": "1"},
        url=P_STUDY + "/attrs/user",
    ),
    Case("GET", STUDY + "/trials", "viewer", url=P_STUDY + "/trials?since=0"),
    Case("POST", STUDY + "/trials", "editor", {}, url=P_STUDY + "/trials"),
    Case("GET", TRIAL, "viewer", url=P_TRIAL),
    Case("PATCH", TRIAL, "editor", {"user_attrs": {"k": "1"}}, url=P_TRIAL),
    # Serving: deployment dep of p/m@prod at revision 2 (tests/serving/seed.py).
    Case("GET", "/api/v1/deployments", "auth"),
    Case("GET", "/api/v1/deployments/{name}", "viewer", url="/api/v1/deployments/dep"),
    Case("GET", DEPS, "viewer", url=P_DEPS),
    Case("POST", DEPS, "editor", {"name": "dnew", "model": "p/m@prod"}, url=P_DEPS),
    Case("GET", DEPS + "/{name}", "viewer", url=P_DEPS + "/dep"),
    Case("DELETE", DEPS + "/{name}", "editor", url=P_DEPS + "/dep"),
    Case("GET", DEPS + "/{name}/revisions", "viewer", url=P_DEPS + "/dep/revisions"),
    Case("POST", DEPS + "/{name}/scale", "editor", {"replicas": 3}, url=P_DEPS + "/dep/scale"),
    Case("POST", DEPS + "/{name}/rollback", "editor", {}, url=P_DEPS + "/dep/rollback"),
    Case("GET", DEPS + "/{name}/drift", "viewer", url=P_DEPS + "/dep/drift?reference=d"),
    Case("PUT", WORK + "/checkpoint", "job", url=LIVE + "/checkpoint?step=1", content=b"c"),
    Case("GET", WORK + "/checkpoint", "job", url=LIVE + "/checkpoint"),
    # Pipelines: pipeline etl with runs PRUNLIVE (running), PRUNDONE (succeeded), PRUNFAILED,
    # schedule PSCHEDULE and trigger PTRIGGER in p (tests/pipelines/seed.py).
    Case("POST", PIPES, "editor", {"name": "pnew", "module": "m", "qualname": "f"}, url=P_PIPES),
    Case("GET", PIPES, "viewer", url=P_PIPES),
    Case("GET", PIPES + "/{name}", "viewer", url=P_PIPES + "/etl"),
    Case("PATCH", PIPES + "/{name}", "editor", {"description": "x"}, url=P_PIPES + "/etl"),
    Case("POST", PIPES + "/{name}/runs", "editor", {"driver": "client"}, url=P_PIPES + "/etl/runs"),
    Case(
        "GET",
        "/api/v1/projects/{project}/pipeline-runs",
        "viewer",
        url="/api/v1/projects/p/pipeline-runs",
    ),
    Case("GET", PRUN, "viewer", url=LIVE_RUN),
    Case("PUT", PRUN + "/graph", "editor", {"graph": {"nodes": {}}}, url=LIVE_RUN + "/graph"),
    Case(
        "POST",
        PRUN + "/steps/begin",
        "editor",
        {"steps": [{"key": "new", "step": "new", "in_process": True}]},
        url=LIVE_RUN + "/steps/begin",
    ),
    Case(
        "POST",
        PRUN + "/steps/finish",
        "editor",
        {"steps": [{"key": "x", "state": "skipped"}]},
        url=LIVE_RUN + "/steps/finish",
    ),
    Case(
        "POST",
        PRUN + "/cache-index",
        "editor",
        {"code_digests": ["0" * 64]},
        url=LIVE_RUN + "/cache-index",
    ),
    Case("POST", PRUN + "/heartbeat", "editor", url=LIVE_RUN + "/heartbeat"),
    Case("POST", PRUN + "/finish", "editor", {"state": "failed"}, url=LIVE_RUN + "/finish"),
    Case("GET", PRUN + "/steps/{key}/output", "viewer", url=LIVE_RUN + "/steps/load/output"),
    Case("GET", PRUN + "/steps/{key}/logs", "viewer", url=LIVE_RUN + "/steps/load/logs"),
    Case("GET", PRUN + "/result", "viewer", url="/api/v1/pipeline-runs/PRUNDONE/result"),
    Case("POST", PRUN + "/retry", "editor", url="/api/v1/pipeline-runs/PRUNFAILED/retry"),
    Case("POST", PRUN + "/cancel", "editor", url=LIVE_RUN + "/cancel"),
    Case(
        "GET",
        "/api/v1/projects/{project}/pipeline-artifacts/{digest}",
        "viewer",
        url="/api/v1/projects/p/pipeline-artifacts/POUTDIGEST",
    ),
    Case(
        "POST",
        PIPES + "/{name}/schedules",
        "editor",
        {"cron": "0 * * * *"},
        url=P_PIPES + "/etl/schedules",
    ),
    Case("GET", PIPES + "/{name}/schedules", "viewer", url=P_PIPES + "/etl/schedules"),
    Case(
        "DELETE",
        "/api/v1/pipeline-schedules/{schedule_id}",
        "editor",
        url="/api/v1/pipeline-schedules/PSCHEDULE",
    ),
    Case(
        "POST",
        PIPES + "/{name}/triggers",
        "editor",
        {"dataset": "d"},
        url=P_PIPES + "/etl/triggers",
    ),
    Case("GET", PIPES + "/{name}/triggers", "viewer", url=P_PIPES + "/etl/triggers"),
    Case(
        "DELETE",
        "/api/v1/pipeline-triggers/{trigger_id}",
        "editor",
        url="/api/v1/pipeline-triggers/PTRIGGER",
    ),
]


@dataclass(frozen=True)
class Seeded:
    """A home holding the world, model p/m and dataset p/d, built once and copied per case."""

    home: Path
    world: World


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    home = tmp_path_factory.mktemp("rbac") / "home"
    home.mkdir()
    with clean_env():
        runtime = Runtime(Settings(home=home, database_url=sqlite_url(home)))
    try:
        world = build_world(runtime)
        with runtime.db.write() as session:
            identity.create_user(session, "pat", password=PASSWORD)
        seed_registry(runtime)  # model p/m and what hangs off it
        seed_data(runtime)  # dataset p/d and what hangs off it
        seed_serving(runtime)  # deployment dep of p/m, and a sample of its requests
        compute = seed_compute(runtime)  # jobs and a snapshot in p
        world.ids.update(compute.ids)
        world.tokens["job"] = compute.job_token
        world.ids.update(seed_tuning(runtime))
        world.ids.update(seed_pipelines(runtime, compute.ids["SNAPDIGEST"]))
    finally:
        runtime.close()
    return Seeded(home, world)


@pytest.fixture(scope="module")
def shared_http(seeded: Seeded) -> Iterator[httpx.Client]:
    """One app over a copy of the seeded home, for the cases that should not change it: reads
    and refusals."""
    home = shutil.copytree(seeded.home, seeded.home.with_name("shared"))
    with clean_env():
        runtime = Runtime(Settings(home=home, database_url=sqlite_url(home)))
    with httpx.Client(
        transport=InProcessTransport(create_app(runtime)), base_url="http://corridor.test"
    ) as client:
        yield client
    runtime.close()


@pytest.fixture
def world(seeded: Seeded) -> World:
    return seeded.world


@pytest.fixture
def matrix_http(
    request: pytest.FixtureRequest,
    seeded: Seeded,
    settings: Settings,
    case: Case,
    caller: str | None,
) -> Iterator[httpx.Client]:
    """The shared app for reads and refusals; an app over a fresh copy of the home for a case
    that may write, so that each write starts from the same world."""
    if case.method == "GET" or not _expected(case, caller) & SUCCESS:
        yield request.getfixturevalue("shared_http")
        return
    shutil.copytree(seeded.home, settings.home, dirs_exist_ok=True)
    runtime = Runtime(settings)
    try:
        transport = InProcessTransport(create_app(runtime))
        with httpx.Client(transport=transport, base_url="http://corridor.test") as client:
            yield client
    finally:
        runtime.close()


def _own_token_id(http: httpx.Client, world: World, caller: str | None) -> str:
    if caller is None:
        return "0" * 32
    listing = http.get("/api/v1/tokens", headers=world.auth(caller)).json()
    return str(listing[0]["id"])


SUCCESS = {200, 201, 204}


def _expected(case: Case, caller: str | None) -> set[int]:
    if case.level == "job":
        return {401} if caller is None else {403}
    rank, need = RANK[caller], LEVEL_RANK[case.level]
    if need == 0:
        return {200}
    if caller is None:
        return {401}
    if case.level in ("viewer", "editor", "admin") and caller in ("nobody", "mallory"):
        return {404}  # outsiders cannot tell the project exists
    return SUCCESS if rank >= need else {403}


def test_matrix_covers_every_route(app: FastAPI) -> None:
    routes = {
        (method, route.path)
        for route in route_table(app)
        if route.dependant is not None
        if not is_mlflow_path(route.path)  # each MLflow route: tests/mlflow_compat/test_rbac.py
        for method in route.methods
    }
    assert routes == {(c.method, c.path) for c in CASES}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c or "anonymous")
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
def test_rbac_matrix(
    matrix_http: httpx.Client, world: World, case: Case, caller: str | None
) -> None:
    http = matrix_http
    url = case.target.replace("OWN", _own_token_id(http, world, caller))
    for placeholder, value in world.ids.items():
        url = url.replace(placeholder, value)
    response = _send(http, case, url, world.auth(caller))
    assert response.status_code in _expected(case, caller), response.text
    if response.status_code >= 400 and case.method != "HEAD":
        assert set(response.json()) == {"error"}


def _send(http: httpx.Client, case: Case, url: str, headers: dict[str, str]) -> httpx.Response:
    if case.content is not None:
        return http.request(case.method, url, content=case.content, headers=headers)
    return http.request(case.method, url, json=case.body, headers=headers)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.level != "job"], ids=lambda c: f"{c.method} {c.path}"
)
def test_a_job_token_is_refused_by_every_route_but_its_workers(
    shared_http: httpx.Client, world: World, case: Case
) -> None:
    """Least privilege: the token a job's worker holds opens nothing but that attempt's worker
    routes, whatever the project's data or the submitter's role."""
    url = case.target.replace("OWN", "0" * 32)
    for placeholder, value in world.ids.items():
        url = url.replace(placeholder, value)
    response = _send(shared_http, case, url, world.auth("job"))
    assert response.status_code == (200 if case.level == "public" else 403), response.text
