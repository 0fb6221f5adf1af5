"""Blob store fixtures: a local S3-compatible server (moto) and stores on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import s3fs

from corridor.config import Settings
from corridor.store.blobs import BlobStore, open_raw_store
from corridor.store.blobs.crypto import create_master_key

# Small chunks make multi-chunk objects cheap, so the contract tests stay fast on S3 too.
TEST_CHUNK_BYTES = 4096


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of a moto S3 server on loopback, shared by the session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Dummy credentials, and no reading of the developer's AWS files or instance metadata."""
    nowhere = tmp_path_factory.mktemp("no-aws")
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
            mp.delenv(key, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_CONFIG_FILE", str(nowhere / "config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere / "credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="session")
def s3_admin(s3_endpoint: str, aws_env: None) -> s3fs.S3FileSystem:
    """A client for the moto server; made once, since each new client costs ~0.5 s."""
    return s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)


@pytest.fixture
def s3_bucket(s3_admin: s3fs.S3FileSystem) -> str:
    """A fresh, empty bucket for one test."""
    name = f"corridor-{uuid.uuid4().hex[:16]}"
    s3_admin.mkdir(name)
    return name


@pytest.fixture(params=["local", "s3"])
def blob_settings(request: pytest.FixtureRequest, home: Path) -> Settings:
    """Settings whose blob URL points at a fresh local folder or a fresh S3 bucket."""
    if request.param == "local":
        return Settings(home=home, blob_url=(home / "blobs").as_uri())
    bucket: str = request.getfixturevalue("s3_bucket")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return Settings(home=home, blob_url=f"s3://{bucket}/blobs", s3_endpoint_url=endpoint)


@pytest.fixture
def master_key_file(home: Path) -> Path:
    path = home / "master.key"
    create_master_key(path)
    return path


BlobStoreFactory = Callable[[], BlobStore]


@pytest.fixture
def make_blob_store(blob_settings: Settings, master_key_file: Path) -> BlobStoreFactory:
    """Open a new `BlobStore` over the same backend and key file (as another process would)."""

    def make() -> BlobStore:
        raw = open_raw_store(blob_settings.effective_blob_url, blob_settings)
        return BlobStore(raw, master_key_file, chunk_bytes=TEST_CHUNK_BYTES)

    return make


@pytest.fixture
def blob_store(make_blob_store: BlobStoreFactory) -> BlobStore:
    """A blob store with 4 KiB chunks, once on a local folder and once on S3."""
    return make_blob_store()
