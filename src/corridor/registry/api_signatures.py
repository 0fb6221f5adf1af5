"""HTTP routes of package signing: the signing keys, their rotation, and each version's signature.

The public keys are no secret: every client needs them to verify what it downloads, so any
authenticated caller lists them, retired ones included. Rotating and signing the packages
stored before signing existed are server-admin writes, audited with the request like every
write. A version's signature is read like its files (project viewer).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from corridor.errors import Conflict
from corridor.registry import service
from corridor.registry.package_signing import SIGNATURE_FILE_NAME
from corridor.registry.routing import VERSION, full_name
from corridor.registry.signatures import get_signature, sign_missing
from corridor.security import signing_keys
from corridor.security.policy import Permission
from corridor.security.signing_models import SigningKey
from corridor.security.signing_schemas import SignedOut, SigningKeyOut
from corridor.web.guard import Access, get_runtime, requires
from corridor.web.sessions import READ_SESSION, ReadSession, WriteRoute, WriteSession

router = APIRouter(tags=["signing"], route_class=WriteRoute)


def key_out(row: SigningKey) -> SigningKeyOut:
    return SigningKeyOut(
        id=row.id,
        algorithm=row.algorithm,
        public_pem=row.public_pem,
        created_at=row.created_at,
        retired_at=row.retired_at,
        active=row.retired_at is None,
    )


@router.get("/signing-keys", response_model=list[SigningKeyOut])
def list_signing_keys(
    session: Session = READ_SESSION, access: Access = requires(Permission.AUTHENTICATED)
) -> list[SigningKeyOut]:
    """The keys that sign model packages, oldest first; the active one has no retired_at."""
    return [key_out(row) for row in signing_keys.list_keys(session)]


@router.post("/admin/signing-keys/rotate", response_model=SigningKeyOut, status_code=201)
def rotate_signing_key(
    request: Request, session: WriteSession, access: Access = requires(Permission.SERVER_ADMIN)
) -> SigningKeyOut:
    """Retire the active key and sign from now on with a new one."""
    row = signing_keys.rotate(session, get_runtime(request).blobs, by=access.principal.name)
    return key_out(row)


@router.post("/admin/signing-keys/sign-missing", response_model=SignedOut)
def sign_missing_packages(
    request: Request, session: WriteSession, access: Access = requires(Permission.SERVER_ADMIN)
) -> SignedOut:
    """Sign every version's package stored before signing existed (the server also does this
    as it starts)."""
    blobs = get_runtime(request).blobs
    return SignedOut(signed=sign_missing(session, blobs, by=access.principal.name))


@router.get(VERSION + "/signature")
def get_version_signature(
    project: str,
    name: str,
    version: str,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> Response:
    """The version's package signature: the model-signing bundle a download writes as
    corridor-model.sig beside the files."""
    record = service.get_model_version(
        session, full_name(access, name), version, project_id=access.project_or_fail.id
    )
    if record.package_digest is None:
        raise Conflict(
            f"version {record.version} of {record.name!r} has no package ({record.status})"
        )
    row = get_signature(session, record.package_digest)
    return Response(
        row.bundle.encode(),
        media_type="application/json",
        headers={
            "x-corridor-signing-key": row.key_id,
            "content-disposition": f'attachment; filename="{SIGNATURE_FILE_NAME}"',
        },
    )
