"""Tables of package signing: the server's signing keys and each package's signature.

A signing key's private half is not in the database: it is a blob (encrypted under the home's
master key, like every blob) named by ``private_key_digest``, which is cleared when the key is
retired, so a retired key can sign nothing again. Its public half stays, so that what it
signed still verifies. A package's signature is stored once per package digest: versions that
share a package (copies) share its signature.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from corridor.store.base import Base, UTCDateTime, utcnow


class SigningKey(Base):
    __tablename__ = "signing_keys"

    # The SHA-256 of the public PEM: model_signing's key hint in every bundle the key signs.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    public_pem: Mapped[str] = mapped_column(Text)
    private_key_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)


class PackageSignature(Base):
    __tablename__ = "package_signatures"

    package_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("signing_keys.id"), index=True)
    # The Sigstore bundle (JSON) written as corridor-model.sig beside a downloaded package.
    bundle: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
