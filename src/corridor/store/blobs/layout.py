"""Where a blob's parts live in a raw store, and what a wrapped data key is bound to.

Layout in the raw store::

    objects/<d[:2]>/<d>            header + AES-GCM chunks, ``d`` = SHA-256 of the plaintext
    keys/<d[:2]>/<d>.<stream id>   the object's data key, wrapped by the master key
    used/<d[:2]>/<d>               empty; written by `touch` when content is reused
    tmp/...                        writes in progress (ciphertext; leftovers of a killed
                                   process are removed by `corridor.store.staging_sweep`)

The blob store (`encrypted`), key rotation (`rotation`), the blob sweep and the staging sweep all
read this layout; it is a module of its own so that none of them imports another for it.
"""

from __future__ import annotations

import re

from corridor.errors import InvalidInput

_DIGEST = re.compile(r"[0-9a-f]{64}")
OBJECTS = "objects/"
KEYS = "keys/"
USED = "used/"
TEMPORARIES = "tmp/"  # where each backend's RawWriter keeps bytes until their commit


def is_digest(name: str) -> bool:
    """Whether ``name`` is a blob digest (64 lowercase hex characters)."""
    return _DIGEST.fullmatch(name) is not None


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is 64 lowercase hex characters; raise `InvalidInput` otherwise."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidInput(f"{digest!r} is not a blob digest (64 lowercase hex characters)")
    return digest


def object_key(digest: str) -> str:
    return f"{OBJECTS}{digest[:2]}/{digest}"


def used_key(digest: str) -> str:
    return f"{USED}{digest[:2]}/{digest}"


def sidecar_key(digest: str, stream_id: bytes) -> str:
    return f"{KEYS}{digest[:2]}/{digest}.{stream_id.hex()}"


def parse_sidecar_key(key: str) -> tuple[str, bytes] | None:
    """Return ``(digest, stream_id)`` of a sidecar key, or None for anything else."""
    name = key.rpartition("/")[2]
    digest, _, sid = name.partition(".")
    if not _DIGEST.fullmatch(digest) or not re.fullmatch(r"[0-9a-f]{32}", sid):
        return None
    return digest, bytes.fromhex(sid)


def key_context(digest: str, stream_id: bytes) -> bytes:
    """What a wrapped data key is bound to: moving a sidecar to another object breaks it."""
    return f"blob:{digest}:{stream_id.hex()}".encode()
