"""Registry things in project ``p`` for access-control tests: model ``p/m`` with version 1
(a package holding ``model.json``), alias ``prod`` -> 1, and tag ``k`` on both."""

from __future__ import annotations

from sqlalchemy import select

from corridor.registry import service
from corridor.registry.manifest import FileEntry, ManifestFields
from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.store.blobs.crypto import create_master_key

MODEL_JSON = b'{"weights": [1.0, 2.0], "bias": 0.5}'


def seed_registry(runtime: Runtime) -> None:
    key_file = runtime.settings.effective_master_key_file
    if not key_file.exists():
        create_master_key(key_file)
    blobs = runtime.blobs
    file = FileEntry(digest=blobs.put(MODEL_JSON), size=len(MODEL_JSON))
    admin = Principal.local_admin()
    with runtime.db.write() as session:
        p = session.scalars(select(Project).where(Project.name == "p")).one()
        service.stage_blobs(session, p.id, {file.digest: file.size})
        service.create_registered_model(session, p, "p/m", tags={"k": "v"})
        package = service.NewPackage(
            ManifestFields(flavour="corridor.linear", entry="model.json"), {"model.json": file}
        )
        service.create_model_version(
            session, blobs, "p/m", by=admin, package=package, tags={"k": "v"}
        )
        service.set_registered_model_alias(session, "p/m", "prod", 1)
