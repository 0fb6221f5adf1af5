"""The server's package signing keys: EC P-256 keys that Corridor creates, uses and rotates.

One key is active at a time; the first is created the first time something is signed. Rotation
retires the active key and creates the next, in one transaction. A retired key keeps its public
half (listed, so that what it signed still verifies) and loses its private half.

The private key (PKCS #8 PEM) is stored in the blob store, so it is encrypted at rest under its
own data key wrapped by the home's master key, and a master-key rotation re-wraps it with every
other blob. Only its digest is in the database; nothing serves that blob (no manifest or
artifact lists it), and `referenced_blobs` keeps the sweep from deleting it while it is active.

Creating or rotating takes a transaction lock (PostgreSQL; SQLite's writers are serialised
already), so two first signings never make two active keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from corridor.errors import IntegrityError
from corridor.security.signing_models import SigningKey
from corridor.store.base import utcnow
from corridor.store.blobs import BlobStore
from corridor.store.dialects import dialect_of

ALGORITHM = "ecdsa-p256-sha256"
# An arbitrary constant ("corrsign") naming the signing-key lock among transaction locks.
_LOCK_KEY = 0x636F72727369676E
_MAX_PRIVATE_PEM_BYTES = 64 * 1024


@dataclass(frozen=True)
class ActiveKey:
    """The key that signs now: its id and its private half."""

    key_id: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)


def public_pem(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id_of(pem: bytes) -> str:
    """A key's id: the SHA-256 of its public PEM (model_signing's key hint)."""
    return hashlib.sha256(pem).hexdigest()


def list_keys(session: Session) -> list[SigningKey]:
    """Every signing key, the active one and the retired ones, oldest first."""
    query = select(SigningKey).order_by(SigningKey.created_at, SigningKey.id)
    return list(session.scalars(query))


def _active_row(session: Session) -> SigningKey | None:
    query = select(SigningKey).where(SigningKey.retired_at.is_(None))
    return session.scalars(query.order_by(SigningKey.created_at.desc()).limit(1)).first()


def _lock(session: Session) -> None:
    dialect_of(session).transaction_lock(session.connection(), _LOCK_KEY)


def _create(session: Session, blobs: BlobStore, by: str) -> SigningKey:
    private_key = ec.generate_private_key(ec.SECP256R1())
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem = public_pem(private_key.public_key())
    row = SigningKey(
        id=key_id_of(pem),
        algorithm=ALGORITHM,
        public_pem=pem.decode("ascii"),
        private_key_digest=blobs.put(private_pem),
        created_at=utcnow(),
        created_by=by,
    )
    session.add(row)
    session.flush()
    return row


def active_key(session: Session, blobs: BlobStore, *, by: str) -> ActiveKey:
    """The key to sign with now, created (by ``by``) if there is none yet."""
    row = _active_row(session)
    if row is None:
        _lock(session)
        row = _active_row(session) or _create(session, blobs, by)
    return ActiveKey(row.id, _private_key(blobs, row))


def _private_key(blobs: BlobStore, row: SigningKey) -> ec.EllipticCurvePrivateKey:
    if row.private_key_digest is None:
        raise IntegrityError(f"signing key {row.id[:16]} has no private key")
    with blobs.open(row.private_key_digest) as f:
        pem = f.read(_MAX_PRIVATE_PEM_BYTES)
    key = serialization.load_pem_private_key(pem, password=None)
    if (
        not isinstance(key, ec.EllipticCurvePrivateKey)
        or key_id_of(public_pem(key.public_key())) != row.id
    ):
        raise IntegrityError(f"the private key stored for signing key {row.id[:16]} is not its own")
    return key


def rotate(session: Session, blobs: BlobStore, *, by: str) -> SigningKey:
    """Retire the active key (if any) and make a new one active; return the new key."""
    _lock(session)
    now = utcnow()
    for row in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        row.retired_at = now
        # The blob is swept later: nothing references it once this commits.
        row.private_key_digest = None
    session.flush()
    return _create(session, blobs, by)


def public_keys(session: Session) -> dict[str, bytes]:
    """Every key's public PEM by id, the retired ones included: what a verifier trusts."""
    return {row.id: row.public_pem.encode("ascii") for row in list_keys(session)}


def referenced_blobs() -> Sequence[Select[Any]]:
    """The blob sweep's reference source: the active keys' private halves."""
    return [select(SigningKey.private_key_digest)]
