"""Compute things in project ``p`` for access-control tests, named by placeholders in URLs:
``JOBDONE`` (a function job that succeeded, with a result), ``JOBQUEUED`` (a queued job),
``JOBLIVE`` (a running job whose attempt 1 has a job token) and ``SNAPDIGEST`` (a snapshot)."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from corridor.compute import attempts
from corridor.compute.models import Job, Snapshot
from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.store.base import new_id, utcnow
from corridor.store.blobs.crypto import create_master_key


@dataclass(frozen=True)
class SeededCompute:
    ids: dict[str, str]
    job_token: str
    snapshot: bytes


def snapshot_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"def f():\n    return 1\n"
        info = tarfile.TarInfo("work.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    # No time in the gzip header: the same files make the same snapshot.
    return gzip.compress(buffer.getvalue(), mtime=0)


def job_row(project_id: str, **values: Any) -> Job:
    """A job row with every required column filled (a command job, queued) unless given."""
    fields: dict[str, Any] = {
        "id": new_id(),
        "project_id": project_id,
        "kind": "command",
        "spec": {"argv": ["true"], "function": None, "env": {}, "datasets": []},
        "cpus": 1.0,
        "memory_bytes": 0,
        "gpus": 0.0,
        "workers": 1,
        "priority": 0,
        "objective": "time",
        "deferrable": False,
        "retries": 0,
        "backoff_s": 1.0,
        "state": "queued",
        "cancel_requested": False,
        "attempts": 0,
        "created_by": "alice",
        "created_at": utcnow(),
    }
    fields.update(values)
    return Job(**fields)


def seed_compute(runtime: Runtime) -> SeededCompute:
    key_file = runtime.settings.effective_master_key_file
    if not key_file.exists():
        create_master_key(key_file)
    archive = snapshot_archive()
    digest = runtime.blobs.put(archive)
    assert digest == hashlib.sha256(archive).hexdigest()
    result = runtime.blobs.put(b"result payload")
    now = utcnow()
    with runtime.db.write() as session:
        p = session.scalars(select(Project).where(Project.name == "p")).one()
        session.add(
            Snapshot(
                project_id=p.id,
                digest=digest,
                size_bytes=len(archive),
                modules=["work"],
                created_by="alice",
                created_at=now,
            )
        )
        done = job_row(
            p.id,
            kind="function",
            spec={
                "argv": None,
                "function": {"module": "work", "qualname": "f", "source": "snapshot"},
                "env": {},
                "datasets": [],
            },
            snapshot_digest=digest,
            state="succeeded",
            result_digest=result,
            finished_at=now,
            exit_code=0,
        )
        queued = job_row(p.id)
        live = job_row(p.id)
        session.add_all([done, queued, live])
        session.flush()
        opened = attempts.open_attempt(session, live, site="local", now=now, lease_s=3600.0)
        attempts.started(session, live.id, 1, host="h", pid=1, now=now, lease_s=3600.0)
        ids = {"JOBDONE": done.id, "JOBQUEUED": queued.id, "JOBLIVE": live.id, "SNAPDIGEST": digest}
    return SeededCompute(ids, opened.token, archive)
