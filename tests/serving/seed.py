"""Serving things in project ``p`` for access-control tests: deployment ``dep`` serving model
``p/m`` (tests/registry/seed.py, seeded first) at revision 2, so that it can be rolled back,
and a sample of its requests (dataset ``dep-samples``) to compare with dataset ``d``
(tests/data/seed.py, seeded first)."""

from __future__ import annotations

from sqlalchemy import select

from corridor.data.ingest import ingest_upload
from corridor.data.limits import DataLimits
from corridor.data.schemas import ReadOptions, VersionMeta
from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.serving import service
from corridor.serving.schemas import DeployIn, ScaleIn


def seed_serving(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        p = session.scalars(select(Project).where(Project.name == "p")).one()
        service.deploy(session, p, DeployIn(name="dep", model="p/m@prod"), actor="admin")
        service.scale(session, p, "dep", ScaleIn(replicas=2), actor="admin")
    sample = b"a,b\n3,x\n1,z\n"
    ingest_upload(
        runtime.db,
        runtime.blobs,
        DataLimits.from_settings(runtime.settings),
        p,
        "dep-samples",
        [sample],
        file_name="dep-samples.csv",
        total=len(sample),
        options=ReadOptions(),
        meta=VersionMeta(),
        by=Principal.local_admin(),
    )
