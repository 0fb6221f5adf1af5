"""Serving things in project ``p`` for access-control tests: deployment ``dep`` serving model
``p/m`` (tests/registry/seed.py, seeded first) at revision 2, so that it can be rolled back."""

from __future__ import annotations

from sqlalchemy import select

from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.serving import service
from corridor.serving.schemas import DeployIn, ScaleIn


def seed_serving(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        p = session.scalars(select(Project).where(Project.name == "p")).one()
        service.deploy(session, p, DeployIn(name="dep", model="p/m@prod"), actor="admin")
        service.scale(session, p, "dep", ScaleIn(replicas=2), actor="admin")
