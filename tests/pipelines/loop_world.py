"""A world for the loop's tests: compute's in-process world (a real database, once per metadata
backend, the app without its lifespan hooks, so no loop ticks behind the test's back) with a
pipeline registered over an uploaded code snapshot. Tests drive the loop with
``tick(runtime, now=...)`` on a fake clock. Also what the end-to-end tests on the live server
share: registering a pipeline file with its code, and waiting for a run to end.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from corridor.client.client import Client
from corridor.config import Settings
from corridor.pipelines import definitions
from corridor.pipelines.loop import schedules
from corridor.pipelines.models import Pipeline, PipelineRun, PipelineSchedule, PipelineTrigger
from corridor.pipelines.schemas import ParamSpec, PipelineIn
from tests.compute.core_world import ComputeWorld, build, tarball

UTC = dt.UTC
FLOW = b"def etl(data='none', n=1):\n    return data\n"


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type,misc]


@dataclass
class LoopWorld:
    cw: ComputeWorld
    pipeline_id: str

    @property
    def db(self) -> Any:
        return self.cw.runtime.db

    def set_limit(self, limit: int | None) -> None:
        with self.db.write() as session:
            row = session.get(Pipeline, self.pipeline_id)
            row.max_concurrent_runs = limit

    def schedule(
        self,
        expression: str,
        *,
        now: dt.datetime,
        timezone: str = "UTC",
        missed: str = "skip",
        params: dict[str, Any] | None = None,
    ) -> str:
        """A schedule made at ``now`` (its first fire computed as the API does)."""
        with self.db.write() as session:
            row = PipelineSchedule(
                pipeline_id=self.pipeline_id,
                project_id=self.cw.project("p").id,
                cron=expression,
                timezone=timezone,
                params=params or {},
                missed=missed,
                enabled=True,
                next_fire_at=schedules.first_fire(expression, timezone, now=now),
                created_by="alice",
                created_by_user_id=self.cw.principals["alice"].user_id,
            )
            session.add(row)
            session.flush()
            return row.id

    def trigger(self, **fields: Any) -> str:
        """A trigger whose last_seen is what it sees now (as the API makes one)."""
        from corridor.pipelines.loop.triggers import current_version

        with self.db.write() as session:
            row = PipelineTrigger(
                pipeline_id=self.pipeline_id,
                project_id=self.cw.project("p").id,
                enabled=True,
                created_by="alice",
                created_by_user_id=self.cw.principals["alice"].user_id,
                **fields,
            )
            row.last_seen = current_version(session, row)
            session.add(row)
            session.flush()
            return row.id

    def runs(self) -> list[PipelineRun]:
        """Every run of the pipeline, by number."""
        with self.db.read() as session:
            found = session.scalars(
                select(PipelineRun)
                .where(PipelineRun.pipeline_id == self.pipeline_id)
                .order_by(PipelineRun.number)
            ).all()
            session.expunge_all()
            return list(found)

    def get(self, model: Any, row_id: str) -> Any:
        with self.db.read() as session:
            row = session.get(model, row_id)
            session.expunge_all()
            return row


def build_loop_world(settings: Settings, sqlite_template: Path) -> Iterator[LoopWorld]:
    for cw in build(settings, sqlite_template):
        digest, data = tarball({"flows/__init__.py": b"", "flows/etl.py": FLOW})
        put = cw.http.put(
            f"/api/v1/snapshot-uploads/p/{digest}", content=data, headers=cw.auth("alice")
        )
        assert put.status_code == 201, put.text
        body = PipelineIn(
            name="etl",
            module="flows.etl",
            qualname="etl",
            snapshot=digest,
            params=[
                ParamSpec(name="data", type="str", required=False, default="none"),
                ParamSpec(name="n", type="int", required=False, default=1),
            ],
        )
        with cw.runtime.db.write() as session:
            pipeline = definitions.register(session, cw.project("p"), body, cw.principals["alice"])
            pipeline_id = pipeline.id
        yield LoopWorld(cw, pipeline_id)


@pytest.fixture
def world(home: Path, database_url: str, sqlite_template: Path) -> Iterator[LoopWorld]:
    """The loop's world, once per metadata backend."""
    yield from build_loop_world(Settings(home=home, database_url=database_url), sqlite_template)


# --- the live server ---------------------------------------------------------------------------


def register_live(
    admin_client: Client,
    http: httpx.Client,
    project: str,
    module: ModuleType,
    name: str,
    params: list[dict[str, Any]],
) -> None:
    """Register ``module``'s pipeline ``name`` with its code, as ``corridor pipelines schedule
    FILE.py`` does: the snapshot of its work folder, then the definition."""
    assert module.__file__ is not None
    snapshot = admin_client.compute.build_snapshot(Path(module.__file__).parent.parent)
    admin_client.compute.upload_snapshot(project, snapshot)
    registered = http.post(
        f"/api/v1/projects/{project}/pipelines",
        json={
            "name": name,
            "module": module.__name__,
            "qualname": name,
            "snapshot": snapshot.digest,
            "params": params,
        },
    )
    assert registered.status_code == 201, registered.text


def wait_for_ended_run(http: httpx.Client, project: str, pipeline: str, *, limit_s: float) -> Any:
    """The pipeline's first run, once it has ended."""
    deadline = time.monotonic() + limit_s
    found: list[Any] = []
    while time.monotonic() < deadline:
        found = http.get(
            f"/api/v1/projects/{project}/pipeline-runs", params={"pipeline": pipeline}
        ).json()
        if found and found[-1]["state"] in ("succeeded", "failed", "cancelled"):
            return found[-1]
        time.sleep(0.5)
    raise AssertionError(f"no run of {pipeline} ended within {limit_s} s: {found}")
