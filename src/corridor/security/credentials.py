"""Credential material: password hashes (argon2) and API token secrets (random, SHA-256 hashed)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "cor_"  # noqa: S105 (a public marker, not a secret)
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Verifying against this keeps a login for an unknown user as slow as one for a known user.
    # Made on first use, not at import, so that commands which never log anyone in start fast.
    return _hasher.hash("corridor-dummy-password")


def prepare_password_checks() -> None:
    """Compute the dummy hash now, so that the first failed login takes as long as the rest."""
    _dummy_hash()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Return whether ``password`` matches; an absent hash still costs one verification."""
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def new_token_secret() -> str:
    """A fresh API token: the prefix plus 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX) and 30 < len(value) < 100


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
