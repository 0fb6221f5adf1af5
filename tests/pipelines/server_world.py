"""An in-process server world for the pipelines service and route tests, on SQLite and
PostgreSQL: compute's world (``p`` with editor ``alice`` and viewer ``vic``, ``q`` with editor
``bob``, admin ``root``; two local sites) with no loops running, so queued jobs stay queued and
each test drives the run's life itself. A code snapshot is uploaded to ``p``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from corridor.compute.models import Job
from corridor.compute.sansio import payload
from corridor.config import Settings
from corridor.lineage.models import LineageEdge
from corridor.pipelines.models import Pipeline, PipelineRun, StepRun
from corridor.runtime import Runtime
from corridor.security.models import Token
from tests.compute.core_world import ComputeWorld, build, tarball

FLOW = b"def load(n):\n    return list(range(n))\n"


@dataclass
class PipelinesWorld:
    cw: ComputeWorld
    snapshot: str

    @property
    def http(self) -> httpx.Client:
        return self.cw.http

    @property
    def runtime(self) -> Runtime:
        return self.cw.runtime

    def auth(self, user: str) -> dict[str, str]:
        return self.cw.auth(user)

    def register(self, user: str = "alice", project: str = "p", **body: Any) -> dict[str, Any]:
        body.setdefault("name", "etl")
        body.setdefault("module", "flows.etl")
        body.setdefault("qualname", "etl")
        body.setdefault("snapshot", self.snapshot)
        body.setdefault(
            "params",
            [
                {"name": "n", "type": "int", "required": False, "default": 3},
                {"name": "label", "type": "str | None", "required": False, "default": None},
            ],
        )
        response = self.http.post(
            f"/api/v1/projects/{project}/pipelines", json=body, headers=self.auth(user)
        )
        assert response.status_code == 201, response.text
        out: dict[str, Any] = response.json()
        return out

    def start(
        self, user: str = "alice", project: str = "p", name: str = "etl", **body: Any
    ) -> httpx.Response:
        body.setdefault("driver", "client")
        body.setdefault("trigger", "cli")
        return self.http.post(
            f"/api/v1/projects/{project}/pipelines/{name}/runs", json=body, headers=self.auth(user)
        )

    def run(self, user: str = "alice", **body: Any) -> dict[str, Any]:
        response = self.start(user, **body)
        assert response.status_code == 201, response.text
        out: dict[str, Any] = response.json()
        return out

    def post(self, path: str, body: Any, user: str = "alice") -> httpx.Response:
        return self.http.post(f"/api/v1{path}", json=body, headers=self.auth(user))

    def begin(
        self, run_id: str, steps: list[dict[str, Any]], user: str = "alice"
    ) -> httpx.Response:
        return self.post(f"/pipeline-runs/{run_id}/steps/begin", {"steps": steps}, user)

    def finish(
        self, run_id: str, steps: list[dict[str, Any]], user: str = "alice"
    ) -> httpx.Response:
        return self.post(f"/pipeline-runs/{run_id}/steps/finish", {"steps": steps}, user)

    def view(self, run_id: str, user: str = "alice") -> dict[str, Any]:
        response = self.http.get(f"/api/v1/pipeline-runs/{run_id}", headers=self.auth(user))
        assert response.status_code == 200, response.text
        out: dict[str, Any] = response.json()
        return out

    def job_body(self, **values: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "function": {"module": "flows.etl", "qualname": "load", "source": "snapshot"},
            "snapshot": self.snapshot,
            "input_b64": b64(payload.encode_call((3,), {})),
        }
        body.update(values)
        return body

    def counts(self) -> dict[str, int]:
        """Rows of the tables a pipelines write may touch."""
        with self.runtime.db.read() as session:
            return {
                t.__tablename__: int(session.scalar(select(func.count()).select_from(t)) or 0)
                for t in (Pipeline, PipelineRun, StepRun, Job, LineageEdge, Token)
            }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def output(value: object) -> str:
    """A step output as the driver sends it."""
    return b64(payload.encode(value))


def build_world(home: Path, database_url: str, sqlite_template: Path) -> Iterator[PipelinesWorld]:
    for cw in build(Settings(home=home, database_url=database_url), sqlite_template):
        digest, archive = tarball({"flows/__init__.py": b"", "flows/etl.py": FLOW})
        response = cw.http.put(
            f"/api/v1/snapshot-uploads/p/{digest}", content=archive, headers=cw.auth("alice")
        )
        assert response.status_code in (200, 201), response.text
        yield PipelinesWorld(cw, digest)


@pytest.fixture
def pw(home: Path, database_url: str, sqlite_template: Path) -> Iterator[PipelinesWorld]:
    """The pipelines world, once per metadata backend."""
    yield from build_world(home, database_url, sqlite_template)
