"""Fixtures for the data slice: an initialised home on both metadata backends, and clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from corridor.client.client import Client
from corridor.client.data import DataClient
from corridor.config import Settings
from corridor.data.models import Dataset, DatasetReport, DatasetVersion
from corridor.home import init_home
from tests.conftest import premigrate
from tests.store.conftest import aws_env, s3_admin, s3_bucket, s3_endpoint

__all__ = ["aws_env", "s3_admin", "s3_bucket", "s3_endpoint"]


@pytest.fixture
def data_home(home: Path, database_url: str, sqlite_template: Path) -> Settings:
    """An initialised home over the test's metadata backend."""
    settings = Settings(home=home, database_url=database_url)
    premigrate(database_url, sqlite_template)
    init_home(settings)
    return settings


@pytest.fixture
def client(data_home: Settings) -> Iterator[Client]:
    """An in-process client over the home, as its local administrator, with project ``p``."""
    with Client(settings=data_home) as c:
        c.create_project("p")
        yield c


@pytest.fixture
def data(client: Client) -> DataClient:
    return DataClient(client)


Counts = dict[str, int]


@pytest.fixture
def state(client: Client, data_home: Settings) -> Callable[[], Counts]:
    """What is stored: rows per data table, blobs, and files left in the home's tmp folder."""

    def count() -> Counts:
        runtime = client._runtime
        with runtime.db.read() as session:
            out = {
                t.__tablename__: int(session.scalar(select(func.count()).select_from(t)) or 0)
                for t in (Dataset, DatasetVersion, DatasetReport)
            }
        out["blobs"] = sum(1 for _ in runtime.blobs.digests())
        tmp = data_home.home / "tmp"
        out["tmp_files"] = sum(1 for p in tmp.rglob("*")) if tmp.exists() else 0
        blob_tmp = data_home.home / "blobs" / "tmp"
        out["blob_tmp_files"] = sum(1 for p in blob_tmp.rglob("*")) if blob_tmp.exists() else 0
        return out

    return count
