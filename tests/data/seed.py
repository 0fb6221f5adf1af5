"""Data things in project ``p`` for access-control tests: dataset ``d`` with version 1, which
has a validation report, a profile and a PII scan."""

from __future__ import annotations

from sqlalchemy import select

from corridor.data import operations
from corridor.data.ingest import ingest_upload
from corridor.data.limits import DataLimits
from corridor.data.schemas import ReadOptions, VersionMeta
from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.store.blobs.crypto import create_master_key

CSV = b"a,b\n1,x\n2,y\n"


def seed_data(runtime: Runtime) -> None:
    key_file = runtime.settings.effective_master_key_file
    if not key_file.exists():
        create_master_key(key_file)
    admin = Principal.local_admin()
    with runtime.db.read() as session:
        p = session.scalars(select(Project).where(Project.name == "p")).one()
    db, blobs, limits = runtime.db, runtime.blobs, DataLimits.from_settings(runtime.settings)
    stored = ingest_upload(
        db,
        blobs,
        limits,
        p,
        "d",
        [CSV],
        file_name="d.csv",
        total=len(CSV),
        options=ReadOptions(),
        meta=VersionMeta(),
        by=admin,
    )
    version = stored.resolved
    operations.validate(
        db,
        blobs,
        limits,
        version,
        suite={"expectations": []},
        frames={},
        gate=False,
        now=None,
        by=admin,
    )
    operations.compute_profile(db, blobs, limits, version, by=admin)
    operations.scan_pii(
        db, blobs, limits, version, sample_rows=10, columns=None, threshold=0.5, by=admin
    )
