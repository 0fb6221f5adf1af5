"""The deployments service on both metadata stores: revisions, what the controller reads and
writes, and creators racing for one name."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from corridor.config import Settings
from corridor.errors import AlreadyExists, NotFound
from corridor.registry import service as registry
from corridor.runtime import Runtime
from corridor.security import projects
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.serving import service
from corridor.serving.models import Deployment
from corridor.serving.schemas import DeployIn, ScaleIn
from tests.conftest import premigrate
from tests.registry.seed import seed_registry


@pytest.fixture
def runtime(settings: Settings, sqlite_template: Path) -> Iterator[Runtime]:
    """A store with project ``p`` and model ``p/m`` (version 1, alias prod)."""
    premigrate(settings.effective_database_url, sqlite_template)
    rt = Runtime(settings)
    with rt.db.write() as session:
        projects.create_project(session, "p", description="", by=Principal.local_admin())
    seed_registry(rt)
    yield rt
    rt.close()


def _project(runtime: Runtime) -> Project:
    with runtime.db.read() as session:
        project = session.scalars(select(Project).where(Project.name == "p")).one()
        session.expunge(project)
        return project


def test_each_change_is_a_revision_and_the_controller_reads_the_current_one(
    runtime: Runtime,
) -> None:
    p = _project(runtime)
    with runtime.db.write() as session:
        service.deploy(session, p, DeployIn(name="dep", model="p/m@prod"), actor="ann")
    with runtime.db.write() as session:
        service.scale(session, p, "dep", ScaleIn(replicas=3), actor="ann")
    with runtime.db.write() as session:
        done = service.rollback(session, p, "dep", to_revision=None, actor="ann")
    assert done.revision == 3
    with runtime.db.read() as session:
        (row,) = service.live(session)
    assert (row.name, row.revision, row.spec.replicas, row.status) == ("dep", 3, 1, "pending")
    with runtime.db.write() as session:
        assert not service.set_status(session, row.id, "ready", revision=2)  # moved on
        assert service.set_status(session, row.id, "failed", "no site", revision=3)
    with runtime.db.read() as session:
        shown = service.show(session, p, "dep")
    assert (shown.status, shown.message) == ("failed", "no site")
    assert shown.updated_at == done.updated_at  # status writes do not look like a new revision
    with runtime.db.write() as session:
        again = service.deploy(session, p, DeployIn(name="dep", model="p/m@1"), actor="ann")
    assert (again.revision, again.status) == (4, "pending")


def test_creators_racing_for_one_name_make_one_deployment(runtime: Runtime) -> None:
    p = _project(runtime)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def create() -> None:
        start.wait()
        try:
            with runtime.db.write() as session:
                made = service.deploy(session, p, DeployIn(name="race", model="p/m@1"), actor="x")
            outcomes.append(f"revision {made.revision}")
        except AlreadyExists:
            outcomes.append("taken")

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) in (["revision 1", "revision 2"], ["revision 1", "taken"])
    with runtime.db.read() as session:
        count = session.scalar(select(func.count()).select_from(Deployment))
    assert count == 1


def test_a_rollback_to_a_version_deleted_since_is_refused(runtime: Runtime) -> None:
    p = _project(runtime)
    with runtime.db.write() as session:
        service.deploy(session, p, DeployIn(name="dep", model="p/m@1"), actor="ann")
        service.scale(session, p, "dep", ScaleIn(replicas=2), actor="ann")
    with runtime.db.write() as session:
        registry.delete_model_version(session, "p/m", 1)
    with runtime.db.write() as session, pytest.raises(NotFound, match="no version 1"):
        service.rollback(session, p, "dep", to_revision=1, actor="ann")
    with runtime.db.read() as session:
        assert service.show(session, p, "dep").revision == 2
