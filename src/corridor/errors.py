"""Corridor's exception tree.

Every error raised on purpose by Corridor is a ``CorridorError``. Each class carries a stable
``code`` (shown to API clients) and maps to exactly one HTTP status, here and nowhere else::

    CorridorError (500, internal)
    ├── InvalidInput (422, invalid_input)          bad value, unknown field, bad name
    │   └── PayloadTooLarge (413, payload_too_large)
    ├── Unauthenticated (401, unauthenticated)     missing, unknown, expired or revoked token
    ├── PermissionDenied (403, permission_denied)  authenticated, but the role does not allow it
    ├── NotFound (404, not_found)                  absent, or present but hidden from the caller
    ├── AlreadyExists (409, already_exists)
    ├── Conflict (409, conflict)                   the target's state forbids the operation
    ├── IntegrityError (500, integrity_error)      stored data failed verification
    │   ├── BlobCorrupted (500, blob_corrupted)
    │   └── SignatureInvalid (500, signature_invalid)  a model package failed its signature check
    ├── ConfigurationError (500, configuration_error)
    ├── TooManyRequests (429, too_many_requests)  a rate limit was reached; retry later
    └── Unavailable (503, unavailable)

The message is written for the person who will read it: what was wrong and what to do.
"""

from __future__ import annotations


class CorridorError(Exception):
    """Base class of every error Corridor raises on purpose."""

    status_code: int = 500
    code: str = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(CorridorError):
    """A request or argument was malformed or out of range."""

    status_code = 422
    code = "invalid_input"


class PayloadTooLarge(InvalidInput):
    """A request body exceeded the configured size limit."""

    status_code = 413
    code = "payload_too_large"


class Unauthenticated(CorridorError):
    """No valid credential was presented."""

    status_code = 401
    code = "unauthenticated"


class PermissionDenied(CorridorError):
    """The caller is known but its role does not allow the operation."""

    status_code = 403
    code = "permission_denied"


class NotFound(CorridorError):
    """The target does not exist, or the caller may not know that it exists."""

    status_code = 404
    code = "not_found"


class AlreadyExists(CorridorError):
    """A thing with that name or identity exists already."""

    status_code = 409
    code = "already_exists"


class Conflict(CorridorError):
    """The target's current state forbids the operation."""

    status_code = 409
    code = "conflict"


class IntegrityError(CorridorError):
    """Stored data failed verification (tampering, corruption or a wrong key)."""

    status_code = 500
    code = "integrity_error"


class BlobCorrupted(IntegrityError):
    """A blob failed authentication or its digest did not match on read."""

    code = "blob_corrupted"


class SignatureInvalid(IntegrityError):
    """A model package has no signature, or its files do not match a trusted one."""

    code = "signature_invalid"


class ConfigurationError(CorridorError):
    """Settings are missing or inconsistent."""

    code = "configuration_error"


class TooManyRequests(CorridorError):
    """A configured rate limit was reached; the request may be retried later."""

    status_code = 429
    code = "too_many_requests"


class Unavailable(CorridorError):
    """A backing service (database, blob store) could not be reached."""

    status_code = 503
    code = "unavailable"


def error_class(code: str) -> type[CorridorError]:
    """The error class for an API error ``code`` (``CorridorError`` if unknown)."""
    stack: list[type[CorridorError]] = [CorridorError]
    while stack:
        cls = stack.pop()
        if cls.code == code:
            return cls
        stack.extend(cls.__subclasses__())
    return CorridorError
