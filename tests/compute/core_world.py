"""A compute world for the server core's tests: a home with declared sites, users and projects,
the app in-process, datasets pinned to regions, and helpers to snapshot and count what is stored.

``p`` has editor ``alice`` and viewer ``vic``; ``q`` has editor ``bob``. Two local sites:
``eu`` (region eu-west, 8 cpus, 32 GiB, 2 A100 GPUs, carbon 300 g/kWh, PUE 1.5) and ``us``
(region us-east, 4 cpus, 8 GiB, no GPU).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from corridor.client.transport import InProcessTransport
from corridor.compute.models import Attempt, Job, LogChunk, Snapshot
from corridor.config import Settings
from corridor.data.ingest import ingest_upload
from corridor.data.limits import DataLimits
from corridor.data.sansio.sensitivity import Sensitivity
from corridor.data.schemas import ReadOptions, VersionMeta
from corridor.home import init_home
from corridor.runtime import Runtime
from corridor.security import identity, projects
from corridor.security.models import Project
from corridor.security.policy import Permission, Principal, Role
from corridor.server.app import create_app
from tests.conftest import premigrate

SITES_TOML = """
[sites.eu]
executor = "local"
region = "eu-west"
cpus = 8
memory = "32G"
gpus = 2
gpu_types = ["A100"]
carbon_intensity = 300
energy_price = 0.2
pue = 1.5

[sites.us]
executor = "local"
region = "us-east"
cpus = 4
memory = "8G"
gpus = 0
carbon_intensity = 100
energy_price = 0.1
"""


@dataclass
class ComputeWorld:
    runtime: Runtime
    http: httpx.Client
    tokens: dict[str, str]
    principals: dict[str, Principal]

    def auth(self, user: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[user]}"}

    def project(self, name: str) -> Project:
        with self.runtime.db.read() as session:
            return projects.authorize(
                session, name, self.principals["root"], Permission.PROJECT_READ
            )

    def counts(self) -> dict[str, int]:
        """Rows of every compute table, and blobs stored."""
        with self.runtime.db.read() as session:
            out = {
                t.__tablename__: int(session.scalar(select(func.count()).select_from(t)) or 0)
                for t in (Job, Attempt, LogChunk, Snapshot)
            }
        out["blobs"] = sum(1 for _ in self.runtime.blobs.digests())
        return out

    def submit(self, user: str, project: str = "p", **body: Any) -> httpx.Response:
        body.setdefault("command", ["true"])
        return self.http.post(
            f"/api/v1/projects/{project}/jobs", json=body, headers=self.auth(user)
        )

    def job(self, job_id: str) -> Job:
        with self.runtime.db.read() as session:
            found = session.get(Job, job_id)
            assert found is not None
            return found

    def ingest(
        self, project: str, name: str, *, regions: list[str], sensitivity: Sensitivity
    ) -> str:
        """A small dataset version in ``project``; returns its ref."""
        frame = pl.DataFrame({"x": [1, 2, 3]})
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        stored = ingest_upload(
            self.runtime.db,
            self.runtime.blobs,
            DataLimits.from_settings(self.runtime.settings),
            self.project(project),
            name,
            iter([buffer.getvalue()]),
            file_name=f"{name}.parquet",
            total=None,
            options=ReadOptions(format="parquet"),
            meta=VersionMeta(regions=regions, sensitivity=sensitivity),
            by=self.principals["root"],
        )
        return f"{name}@{stored.resolved.version.version}"


def tarball(files: dict[str, bytes]) -> tuple[str, bytes]:
    """A tar.gz of ``files`` and its sha256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    data = gzip.compress(buffer.getvalue(), mtime=0)
    return hashlib.sha256(data).hexdigest(), data


def build(settings: Settings, sqlite_template: Path) -> Iterator[ComputeWorld]:
    premigrate(settings.effective_database_url, sqlite_template)
    (settings.home / "corridor.toml").write_text(SITES_TOML)
    init_home(settings)
    runtime = Runtime(settings)
    tokens: dict[str, str] = {}
    principals: dict[str, Principal] = {}
    ttl = dt.timedelta(days=1)
    with runtime.db.write() as session:
        for name in ("root", "alice", "vic", "bob"):
            user = identity.create_user(session, name, is_admin=name == "root")
            tokens[name] = identity.issue_token(session, user, name="t", ttl=ttl).secret
            principals[name] = Principal(user_id=user.id, name=name, is_admin=name == "root")
        p = projects.create_project(session, "p", description="", by=principals["alice"])
        projects.create_project(session, "q", description="", by=principals["bob"])
        projects.grant(session, p, "vic", Role.VIEWER)
    app: FastAPI = create_app(runtime)
    with httpx.Client(transport=InProcessTransport(app), base_url="http://corridor.test") as http:
        yield ComputeWorld(runtime, http, tokens, principals)
    runtime.close()


@pytest.fixture
def cw(home: Path, database_url: str, sqlite_template: Path) -> Iterator[ComputeWorld]:
    """The compute world, once per metadata backend."""
    yield from build(Settings(home=home, database_url=database_url), sqlite_template)
