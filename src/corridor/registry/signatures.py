"""Package signatures on the server: sign a package as it becomes a version's, read it back.

A package is signed in the same transaction that gives a version its package (registration, a
pending version becoming READY, a copy, the MLflow routes: all go through `registration`), so a
READY version never lacks a signature. Packages stored before signing existed are signed by
`sign_missing`, which the server runs as it starts (`signing_at_start`) and a server admin can
run on demand (``corridor admin signing-key sign-missing``).

A signature is stored once per package digest, with ``ON CONFLICT DO NOTHING``: two versions
registering the same package at once both end up with the one signature.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.to_thread
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from corridor.errors import NotFound
from corridor.registry.manifest import Manifest, canonical_json
from corridor.registry.models import ModelVersion
from corridor.registry.package_signing import sign_manifest
from corridor.registry.package_store import read_manifest
from corridor.registry.validation import VersionStatus
from corridor.security import signing_keys
from corridor.security.audit import AuditEntry, append_in
from corridor.security.signing_models import PackageSignature
from corridor.store.base import utcnow
from corridor.store.blobs import BlobStore
from corridor.store.dialects import dialect_of

if TYPE_CHECKING:
    from corridor.runtime import Runtime

SERVER_SIGNER = "corridor"


def ensure_signed(
    session: Session, blobs: BlobStore, digest: str, manifest: Manifest, *, by: str
) -> None:
    """Sign package ``digest`` with the active key unless it is signed already."""
    if session.get(PackageSignature, digest) is not None:
        return
    key = signing_keys.active_key(session, blobs, by=by)
    bundle = sign_manifest(key.private_key, manifest, canonical_json(manifest))
    insert = dialect_of(session).insert(PackageSignature)
    values = {
        "package_digest": digest,
        "key_id": key.key_id,
        "bundle": bundle.decode(),
        "created_at": utcnow(),
    }
    session.execute(
        insert.values(**values).on_conflict_do_nothing(index_elements=["package_digest"])
    )


def get_signature(session: Session, digest: str) -> PackageSignature:
    """The signature of package ``digest``; `NotFound` saying how to get one if it has none."""
    row = session.get(PackageSignature, digest)
    if row is None:
        raise NotFound(
            f"package {digest} has no signature yet (it was stored before packages were "
            "signed): a server administrator signs it with "
            "`corridor admin signing-key sign-missing`, or restarts the server"
        )
    return row


def _unsigned_digests() -> Select[str | None]:
    signed = select(PackageSignature.package_digest)
    return (
        select(ModelVersion.package_digest)
        .where(ModelVersion.status == VersionStatus.READY.value)
        .where(ModelVersion.package_digest.is_not(None))
        .where(ModelVersion.package_digest.not_in(signed))
        .distinct()
    )


def sign_missing(session: Session, blobs: BlobStore, *, by: str) -> int:
    """Sign every READY version's package that has no signature; return how many were signed."""
    count = 0
    for digest in list(session.scalars(_unsigned_digests())):
        assert digest is not None
        ensure_signed(session, blobs, digest, read_manifest(blobs, digest), by=by)
        count += 1
    return count


def _sign_missing_now(runtime: Runtime) -> None:
    with runtime.db.read() as session:
        if session.scalars(_unsigned_digests().limit(1)).first() is None:
            return  # the usual case: and a home with no packages needs no blob store here
    with runtime.db.write() as session:
        signed = sign_missing(session, runtime.blobs, by=SERVER_SIGNER)
        if signed:
            detail = {"signed": signed}
            action = "packages.sign_missing"
            append_in(session, AuditEntry(SERVER_SIGNER, action, "packages", "ok", detail=detail))


@asynccontextmanager
async def signing_at_start(runtime: Runtime) -> AsyncIterator[None]:
    """The registry's lifespan hook: sign what was stored unsigned, then serve."""
    await anyio.to_thread.run_sync(_sign_missing_now, runtime)
    yield
