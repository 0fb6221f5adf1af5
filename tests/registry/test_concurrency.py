"""Writers racing on one model: distinct version numbers, one winner per name (both backends)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from corridor.errors import AlreadyExists
from corridor.registry import service
from corridor.store.blobs import BlobStore
from corridor.store.db import Database
from tests.registry.conftest import ADMIN, Packager, Team

WRITERS = 8


def test_concurrent_registrations_get_distinct_numbers(
    db: Database, blobs: BlobStore, team: Team, packager: Packager
) -> None:
    digest = packager.package(team.churn)
    with db.write() as session:
        service.create_registered_model(session, team.churn, "churn/fraud")

    def register(_: int) -> int:
        with db.write() as session:
            record = service.create_model_version(
                session, blobs, "churn/fraud", by=ADMIN, package_digest=digest
            )
        return record.version

    with ThreadPoolExecutor(WRITERS) as pool:
        numbers = sorted(pool.map(register, range(WRITERS * 2)))
    assert numbers == list(range(1, WRITERS * 2 + 1))


def test_concurrent_creates_of_one_name_leave_one_model(db: Database, team: Team) -> None:
    def create(_: int) -> str:
        try:
            with db.write() as session:
                service.create_registered_model(session, team.churn, "churn/race")
        except AlreadyExists:
            return "lost"
        return "won"

    with ThreadPoolExecutor(WRITERS) as pool:
        outcomes = list(pool.map(create, range(WRITERS)))
    assert outcomes.count("won") == 1
    assert outcomes.count("lost") == WRITERS - 1
