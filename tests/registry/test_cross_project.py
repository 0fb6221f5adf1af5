"""Lineage and registration never reach into a project the caller cannot read.

``mallory`` is a member of project ``q`` only; ``p`` holds a run, a logged model, a dataset
version and model ``p/m`` version 1 (made from the run), created by others. Every lineage walk
and every source, run, logged model, dataset version or parent a registration names must be
readable by the caller: otherwise the answer is the 404 an id that names nothing gets, word
for word, nothing is written, and nothing of ``p`` appears in the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from corridor.lineage import Node, NodeKind
from corridor.lineage.models import LineageEdge
from corridor.registry import service
from corridor.registry.models import ModelVersion
from corridor.runtime import Runtime
from corridor.security import projects
from corridor.security.models import Project
from corridor.security.policy import Role
from corridor.tracking import logged_models
from tests.registry.conftest import make_dataset_version, make_run
from tests.registry.seed import seed_registry
from tests.server.conftest import World

Q = "/api/v1/projects/q"
MLFLOW = "/api/2.0/mlflow"
MISSING_RUN = "0123456789abcdef0123456789abcdef"
MISSING_DATASET_VERSION = "fedcba9876543210fedcba9876543210"
MISSING_LOGGED_MODEL = "m-0123456789abcdef0123456789abcdef"


@dataclass
class Secrets:
    """Ids and names of the things in ``p`` that no answer to ``mallory`` may hold (beyond
    what the request itself said)."""

    experiment: str
    run: str
    version: str
    dataset_version: str
    logged_model: str

    def words(self) -> list[str]:
        return [
            self.run,
            self.version,
            self.dataset_version,
            self.logged_model,
            "p/m",
            "p/sales",
        ]


def _project(runtime: Runtime, name: str) -> Project:
    with runtime.db.read() as session:
        return session.scalars(select(Project).where(Project.name == name)).one()


@pytest.fixture
def secrets(runtime: Runtime, world: World) -> Secrets:
    seed_registry(runtime)
    p = _project(runtime, "p")
    run = world.ids["XRUN"]
    with runtime.db.write() as session:
        version = service.get_model_version(session, "p/m", 1).id
        service.add_edge(session, Node(NodeKind.RUN, run), Node(NodeKind.MODEL_VERSION, version))
        logged = logged_models.create_logged_model(session, world.ids["XEXP"], source_run_id=run)
    return Secrets(
        experiment=world.ids["XEXP"],
        run=run,
        version=version,
        dataset_version=make_dataset_version(runtime.db, p, "sales"),
        logged_model=logged.model_id,
    )


class Caller:
    """Requests as one user; each answer is checked to hold none of ``p``'s secrets."""

    def __init__(self, http: httpx.Client, headers: dict[str, str], secrets: Secrets) -> None:
        self.http, self.headers, self.secrets = http, headers, secrets

    def call(self, method: str, url: str, status: int, **kwargs: Any) -> Any:
        response = self.http.request(method, url, headers=self.headers, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def hidden(self, method: str, url: str, **kwargs: Any) -> str:
        """The 404 message for a request, after checking it names nothing of ``p`` that the
        request did not name itself."""
        response = self.http.request(method, url, headers=self.headers, **kwargs)
        assert response.status_code == 404, response.text
        asked = f"{url} {kwargs!r}"
        for word in self.secrets.words():
            if word not in asked:
                assert word not in response.text, (word, response.text)
        message: str = response.json()["error"]["message"]
        return message


@pytest.fixture
def mallory(http: httpx.Client, world: World, secrets: Secrets) -> Caller:
    caller = Caller(http, world.auth("mallory"), secrets)
    caller.call("POST", f"{Q}/models", 201, json={"name": "m"})
    return caller


def _versions(runtime: Runtime) -> int:
    with runtime.db.read() as session:
        return session.scalar(select(func.count()).select_from(ModelVersion)) or 0


def _edges(runtime: Runtime) -> int:
    with runtime.db.read() as session:
        return session.scalar(select(func.count()).select_from(LineageEdge)) or 0


@pytest.mark.parametrize("kind", ["model_version", "run", "dataset_version"])
@pytest.mark.parametrize("direction", ["upstream", "downstream"])
def test_a_walk_from_a_node_of_an_unreadable_project_is_not_found_like_a_missing_one(
    mallory: Caller, secrets: Secrets, kind: str, direction: str
) -> None:
    node_id = {
        "model_version": secrets.version,
        "run": secrets.run,
        "dataset_version": secrets.dataset_version,
    }[kind]
    params = {"kind": kind, "id": node_id, "direction": direction, "depth": 5}
    message = mallory.hidden("GET", f"{Q}/lineage", params=params)
    missing = mallory.hidden("GET", f"{Q}/lineage", params={**params, "id": MISSING_RUN})
    assert message.replace(node_id, "<id>") == missing.replace(MISSING_RUN, "<id>")


def test_a_walk_from_a_readable_node_leaves_out_nodes_and_edges_of_unreadable_projects(
    mallory: Caller, runtime: Runtime, secrets: Secrets
) -> None:
    mallory.call("POST", f"{Q}/models", 201, json={"name": "mine"})
    q = _project(runtime, "q")
    mine_run = make_run(runtime.db, q, "mine")
    created = mallory.call(
        "POST", f"{Q}/models/mine/versions", 201, json={"source": f"runs:/{mine_run}/model"}
    )
    # Edges that cross into p, as written before sources were checked (or by someone who
    # reads both projects): p's run and dataset version -> q's version -> p's version.
    mine = Node(NodeKind.MODEL_VERSION, created["id"])
    with runtime.db.write() as session:
        service.add_edge(session, Node(NodeKind.RUN, secrets.run), mine)
        service.add_edge(session, Node(NodeKind.DATASET_VERSION, secrets.dataset_version), mine)
        service.add_edge(session, mine, Node(NodeKind.MODEL_VERSION, secrets.version))
    for url, params in (
        (f"{Q}/models/mine/versions/1/lineage", {"direction": "upstream"}),
        (f"{Q}/models/mine/versions/1/lineage", {"direction": "downstream"}),
        (f"{Q}/lineage", {"kind": "model_version", "id": created["id"], "direction": "upstream"}),
        (f"{Q}/lineage", {"kind": "run", "id": mine_run, "direction": "downstream"}),
    ):
        response = mallory.http.get(url, params=params, headers=mallory.headers)
        assert response.status_code == 200, response.text
        for word in secrets.words():
            assert word not in response.text, (word, url, params)
        walked = response.json()
        assert {n["id"] for n in walked["nodes"]} <= {created["id"], mine_run}


def _version_bodies(secrets: Secrets, world: World) -> dict[str, tuple[dict[str, Any], str, str]]:
    """Registration bodies naming something of ``p``: (body, its secret, a missing stand-in)."""
    exp, run, lm = secrets.experiment, secrets.run, secrets.logged_model
    return {
        "run source": ({"source": f"runs:/{run}/model"}, run, MISSING_RUN),
        "mlflow artifacts source": (
            {"source": f"mlflow-artifacts:/{exp}/{run}/artifacts/model"},
            run,
            MISSING_RUN,
        ),
        "logged model source": ({"source": f"models:/{lm}"}, lm, MISSING_LOGGED_MODEL),
        "logged model artifacts source": (
            {"source": f"mlflow-artifacts:/{exp}/models/{lm}/artifacts"},
            lm,
            MISSING_LOGGED_MODEL,
        ),
        "another version as source": ({"source": "models:/p/m/1"}, "p/m", "q/nothing"),
        "run id beside a package": ({"package_digest": "PKG", "run_id": run}, run, MISSING_RUN),
        "logged model id beside a run source": (
            {"source": "runs:/QRUN/model", "model_id": lm},
            lm,
            MISSING_LOGGED_MODEL,
        ),
        "manifest source run": ({"package": {"source_run": run}}, run, MISSING_RUN),
        "manifest dataset version id": (
            {"package": {"dataset_versions": [secrets.dataset_version]}},
            secrets.dataset_version,
            MISSING_DATASET_VERSION,
        ),
        "manifest dataset version reference": (
            {"package": {"dataset_versions": ["p/sales@1"]}},
            "p/sales",
            "q/nothing",
        ),
        "manifest parent": ({"package": {"derived_from": "models:/p/m/1"}}, "p/m", "q/nothing"),
    }


BODIES = [
    "run source",
    "mlflow artifacts source",
    "logged model source",
    "logged model artifacts source",
    "another version as source",
    "run id beside a package",
    "logged model id beside a run source",
    "manifest source run",
    "manifest dataset version id",
    "manifest dataset version reference",
    "manifest parent",
]


def _filled(body: dict[str, Any], caller: Caller, runtime: Runtime, world: World) -> dict[str, Any]:
    """``body`` made complete with things of ``q``: an uploaded file, a package, a run."""
    body = dict(body)
    if "package" in body or body.get("package_digest") == "PKG":
        uploaded = caller.call("POST", "/api/v1/blobs/q", 201, content=b"{}")
        package = {"flavour": "corridor.linear", "files": {"model.json": uploaded}}
        if "package" in body:
            body["package"] = {**package, **body["package"]}
        else:
            made = caller.call("POST", f"{Q}/models/m/versions", 201, json={"package": package})
            body["package_digest"] = made["package_digest"]
    if body.get("source") == "runs:/QRUN/model":
        body["source"] = f"runs:/{make_run(runtime.db, _project(runtime, 'q'))}/model"
    return body


@pytest.mark.parametrize("case", BODIES)
def test_naming_an_unreadable_thing_in_a_registration_is_404_like_a_missing_one_writing_nothing(
    mallory: Caller, runtime: Runtime, world: World, secrets: Secrets, case: str
) -> None:
    body, secret, stand_in = _version_bodies(secrets, world)[case]
    body = _filled(body, mallory, runtime, world)
    versions, edges = _versions(runtime), _edges(runtime)
    url = f"{Q}/models/m/versions"
    message = mallory.hidden("POST", url, json=body)
    assert (_versions(runtime), _edges(runtime)) == (versions, edges)
    # The same request naming nothing at all gets the same words: no oracle of existence.
    missing = _replace(body, secret, stand_in)
    assert message.replace(secret, "<x>") == mallory.hidden("POST", url, json=missing).replace(
        stand_in, "<x>"
    )
    assert (_versions(runtime), _edges(runtime)) == (versions, edges)


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return value


def test_the_mlflow_route_refuses_the_same_run_source_with_nothing_written(
    mallory: Caller, runtime: Runtime, secrets: Secrets
) -> None:
    versions = _versions(runtime)
    created = {"name": "q/m", "source": f"runs:/{secrets.run}/model"}
    response = mallory.http.post(
        f"{MLFLOW}/model-versions/create", json=created, headers=mallory.headers
    )
    assert response.status_code == 404, response.text
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert secrets.version not in response.text
    assert _versions(runtime) == versions


def test_a_member_of_both_projects_may_register_from_and_walk_into_the_other(
    http: httpx.Client, runtime: Runtime, world: World, secrets: Secrets
) -> None:
    with runtime.db.write() as session:
        q = session.scalars(select(Project).where(Project.name == "q")).one()
        projects.grant(session, q, "ed", Role.EDITOR)
    ed = Caller(http, world.auth("ed"), secrets)
    ed.call("POST", f"{Q}/models", 201, json={"name": "m"})
    uploaded = ed.call("POST", "/api/v1/blobs/q", 201, content=b"{}")
    package = {
        "flavour": "corridor.linear",
        "files": {"model.json": uploaded},
        "source_run": secrets.run,
        "dataset_versions": ["p/sales@1"],
        "derived_from": "models:/p/m/1",
    }
    made = ed.call("POST", f"{Q}/models/m/versions", 201, json={"package": package})
    assert made["run_id"] == secrets.run
    copied = ed.call("POST", f"{Q}/models/m/versions", 201, json={"source": "models:/p/m/1"})
    assert copied["source"] == "models:/p/m/1"
    pending = ed.call(
        "POST", f"{Q}/models/m/versions", 201, json={"source": f"runs:/{secrets.run}/model"}
    )
    assert (pending["status"], pending["run_id"]) == ("PENDING_REGISTRATION", secrets.run)
    up = ed.call(
        "GET",
        f"{Q}/models/m/versions/1/lineage",
        200,
        params={"direction": "upstream", "depth": 5},
    )
    assert {(n["kind"], n["id"]) for n in up["nodes"]} >= {
        ("run", secrets.run),
        ("dataset_version", secrets.dataset_version),
        ("model_version", secrets.version),
    }
    # Walking from p's run through q's URL works too: ed may read p.
    down = ed.call("GET", f"{Q}/lineage", 200, params={"kind": "run", "id": secrets.run})
    assert made["id"] in {n["id"] for n in down["nodes"]}
    # And mallory, who reads q only, sees q's versions without what they came from in p.
    mallory = Caller(http, world.auth("mallory"), secrets)
    seen = mallory.call(
        "GET", f"{Q}/models/m/versions/1/lineage", 200, params={"direction": "upstream"}
    )
    assert {n["id"] for n in seen["nodes"]} == {made["id"]}


def test_a_server_admin_may_walk_from_any_node(
    http: httpx.Client, world: World, secrets: Secrets
) -> None:
    root = Caller(http, world.auth("root"), secrets)
    params = {"kind": "model_version", "id": secrets.version, "direction": "upstream"}
    walked = root.call("GET", f"{Q}/lineage", 200, params=params)
    assert {n["id"] for n in walked["nodes"]} == {secrets.version, secrets.run}
