"""Request and response bodies of the package signing routes."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from corridor.schemas import Response


class SigningKeyOut(Response):
    id: str = Field(description="SHA-256 of the public PEM: the key hint in every bundle it signs.")
    algorithm: str
    public_pem: str
    created_at: dt.datetime
    retired_at: dt.datetime | None = Field(
        description="When rotation retired it; a retired key still verifies what it signed."
    )
    active: bool


class SignedOut(Response):
    signed: int = Field(description="How many packages were signed.")
