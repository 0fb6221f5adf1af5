"""``client.serving``: deploy registered models and manage their deployments.

    client.serving.deploy("mlp", "mlp@production", replicas=2)
    client.serving.deploy("mlp", "mlp@production", canary=[("mlp@candidate", 10)])
    client.serving.scale("mlp", min_replicas=1, max_replicas=4)
    client.serving.rollback("mlp")

A deployment answers at ``/v2/models/NAME/infer`` on the server's own address once a replica is
up (``deploy`` may return before). Without ``project=``, a deploy goes to the project of its
model (``churn/fraud`` lives in ``churn``), a bare model name no project of yours has to
``default``; the other calls find the deployment by its name, unique across the server.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from corridor.client.connection import Connection
from corridor.client.default_project import ensure_default_project
from corridor.errors import InvalidInput
from corridor.registry.model_refs import parse_model_ref
from corridor.serving.schemas import DeploymentOut, RevisionOut
from corridor.serving.spec import Graph

Traffic = Sequence[tuple[str, float]] | Mapping[str, float]
Part = BaseModel | Mapping[str, Any] | None


def _traffic(given: Traffic | None) -> list[dict[str, Any]]:
    pairs = given.items() if isinstance(given, Mapping) else (given or [])
    return [{"model": model, "weight": weight} for model, weight in pairs]


def _part(given: Part) -> Any:
    if isinstance(given, BaseModel):
        return given.model_dump(mode="json")
    return None if given is None else dict(given)


class ServingClient:
    """Serving calls over a client's connection (``client.serving`` is one)."""

    def __init__(self, client: Connection) -> None:
        self.client = client

    def _url(self, name: str, project: str | None) -> str:
        if project is None:
            project = self.show(name).project
        return f"/api/v1/projects/{quote(project, safe='')}/deployments/{quote(name, safe='')}"

    def _project_for(self, model: str | None) -> str:
        """The project of ``model``'s registered model, else the name's prefix, else default."""
        if model is not None:
            name = parse_model_ref(model).name
            quoted = name.replace("'", "''")
            found = self.client.request(
                "GET", "/api/v1/models", params={"filter": f"name = '{quoted}'"}
            ).json()
            models = found.get("models") or found.get("registered_models") or []
            if models:
                return str(models[0]["project"])
            if "/" in name:
                return name.split("/", 1)[0]
        return ensure_default_project(self.client)

    def deploy(
        self,
        name: str,
        model: str | None = None,
        *,
        project: str | None = None,
        replicas: int = 1,
        site: str | None = None,
        canary: Traffic | None = None,
        routes: Traffic | None = None,
        shadow: tuple[str, float] | str | None = None,
        sticky_header: str | None = None,
        batching: Part = None,
        autoscaling: Part = None,
        placement: Part = None,
        sampling: Part = None,
        rate_limit: Part = None,
        graph: Graph | Mapping[str, Any] | None = None,
    ) -> DeploymentOut:
        """Deploy ``model`` (``M@alias`` or ``M@N``) as ``name``, or redeploy it (a new
        revision; the whole spec is given each time). ``canary``: ``[("M@alias", percent)]``,
        the rest goes to ``model``; ``routes``: every model with its percent instead;
        ``shadow``: ``("M@N", percent)`` mirrored, its answers recorded, not returned."""
        if routes is not None and model is not None:
            raise InvalidInput("give model (and canary), or routes; not both")
        first = model if model is not None else next(iter(_traffic(routes)), {}).get("model")
        if project is None:
            project = self._project_for(first)
        body: dict[str, Any] = {
            "name": name,
            "model": model,
            "canary": _traffic(canary),
            "routes": _traffic(routes) if routes is not None else None,
            "replicas": replicas,
            "site": site,
            "sticky_header": sticky_header,
            "batching": _part(batching),
            "autoscaling": _part(autoscaling),
            "placement": _part(placement),
            "sampling": _part(sampling),
            "rate_limit": _part(rate_limit),
            "graph": _part(graph),
        }
        if shadow is not None:
            ref, percent = (shadow, 100.0) if isinstance(shadow, str) else shadow
            body["shadow"] = {"model": ref, "percent": percent}
        path = f"/api/v1/projects/{quote(project, safe='')}/deployments"
        body = {k: v for k, v in body.items() if v is not None}
        return DeploymentOut.model_validate(self.client.request("POST", path, json=body).json())

    def list(self, project: str | None = None) -> builtins.list[DeploymentOut]:
        """The deployments of ``project`` (default: of every project you can read), by name."""
        path = "/api/v1/deployments"
        if project is not None:
            path = f"/api/v1/projects/{quote(project, safe='')}/deployments"
        return [DeploymentOut.model_validate(d) for d in self.client.request("GET", path).json()]

    def show(self, name: str, *, project: str | None = None) -> DeploymentOut:
        """One deployment with its spec, status, paths and revisions (newest first)."""
        if project is None:
            path = f"/api/v1/deployments/{quote(name, safe='')}"
        else:
            path = self._url(name, project)
        return DeploymentOut.model_validate(self.client.request("GET", path).json())

    def revisions(self, name: str, *, project: str | None = None) -> builtins.list[RevisionOut]:
        rows = self.client.request("GET", self._url(name, project) + "/revisions").json()
        return [RevisionOut.model_validate(r) for r in rows]

    def scale(
        self,
        name: str,
        replicas: int | None = None,
        *,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
        target_concurrency: float | None = None,
        project: str | None = None,
    ) -> DeploymentOut:
        """A fixed number of replicas (autoscaling off), or autoscaling bounds: a new revision."""
        body = {
            "replicas": replicas,
            "min_replicas": min_replicas,
            "max_replicas": max_replicas,
            "target_concurrency": target_concurrency,
        }
        body = {k: v for k, v in body.items() if v is not None}
        reply = self.client.request("POST", self._url(name, project) + "/scale", json=body)
        return DeploymentOut.model_validate(reply.json())

    def rollback(
        self, name: str, *, to_revision: int | None = None, project: str | None = None
    ) -> DeploymentOut:
        """Serve the revision before the current one (or ``to_revision``) again, at once."""
        body = {} if to_revision is None else {"to_revision": to_revision}
        reply = self.client.request("POST", self._url(name, project) + "/rollback", json=body)
        return DeploymentOut.model_validate(reply.json())

    def delete(self, name: str, *, project: str | None = None) -> None:
        """Stop serving ``name`` and delete it with its revisions."""
        self.client.request("DELETE", self._url(name, project))
