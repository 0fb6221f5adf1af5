"""Envelope encryption keys: master key files, the keyring, and wrapping of data keys.

Each blob has its own data key (see ``stream_cipher``); the master key only ever encrypts data
keys, so replacing it re-wraps a few bytes per object and rewrites no data. It lives beside the
blob store, its only user, so that `store` never imports `security` (which sits above it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from corridor.errors import AlreadyExists, ConfigurationError, IntegrityError

KEY_BYTES = 32
NONCE_BYTES = 12
PENDING_SUFFIX = ".new"
_WRAP_AAD = b"corridor-data-key-v1\0"


@dataclass(frozen=True)
class MasterKey:
    """A 256-bit key-encryption key and its public identifier."""

    key: bytes = field(repr=False)
    key_id: str

    @classmethod
    def from_bytes(cls, key: bytes) -> MasterKey:
        if len(key) != KEY_BYTES:
            raise ConfigurationError(f"a master key must be {KEY_BYTES} bytes, got {len(key)}")
        # A hash of a 256-bit random key names it without revealing anything usable.
        key_id = hashlib.sha256(b"corridor-master-key-id\0" + key).hexdigest()[:16]
        return cls(key=key, key_id=key_id)


def create_master_key(path: Path) -> MasterKey:
    """Write a fresh master key to ``path`` (mode 0600); refuse to overwrite an existing file."""
    key = MasterKey.from_bytes(secrets.token_bytes(KEY_BYTES))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64encode(key.key) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        # link() publishes the complete file atomically and fails if the name is taken,
        # so a crash never leaves a half-written key and a race never loses one.
        os.link(tmp, path)
    except FileExistsError:
        raise AlreadyExists(f"master key file {path} exists already; it was left as is") from None
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return key


def load_master_key(path: Path) -> MasterKey:
    """Read a master key file written by `create_master_key`."""
    try:
        st = path.stat()
        text = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(
            f"master key file {path} does not exist: create it with `corridor init`, "
            "or point CORRIDOR_MASTER_KEY_FILE at the existing key"
        ) from None
    if os.name == "posix" and st.st_mode & 0o077:
        raise ConfigurationError(
            f"master key file {path} is readable by other users: run `chmod 600 {path}`"
        )
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise ConfigurationError(f"master key file {path} is not base64 text") from None
    return MasterKey.from_bytes(raw)


def _fsync_dir(path: Path) -> None:
    if os.name == "posix":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under the master key named by ``key_id``."""

    key_id: str
    nonce: bytes
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        b64 = base64.b64encode
        doc = {"v": 1, "key_id": self.key_id}
        doc |= {"nonce": b64(self.nonce).decode(), "wrapped": b64(self.ciphertext).decode()}
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> WrappedKey:
        try:
            doc = json.loads(data)
            if doc["v"] != 1:
                raise ValueError(f"unknown version {doc['v']!r}")
            return cls(
                key_id=str(doc["key_id"]),
                nonce=base64.b64decode(doc["nonce"], validate=True),
                ciphertext=base64.b64decode(doc["wrapped"], validate=True),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"wrapped data key is unreadable ({exc})") from None


class Keyring:
    """The master keys a process may use: the current one and, during rotation, the pending one.

    New data keys are wrapped under the pending key when there is one, so that nothing written
    while a rotation runs is left behind under the key about to be retired.
    """

    def __init__(self, current: MasterKey, pending: MasterKey | None = None) -> None:
        self.current = current
        self.pending = pending

    @classmethod
    def load(cls, path: Path) -> Keyring:
        """Load ``path`` and, if a rotation is under way, ``<path>.new``."""
        pending_path = pending_key_path(path)
        pending = load_master_key(pending_path) if pending_path.exists() else None
        return cls(load_master_key(path), pending)

    @property
    def wrapping_key(self) -> MasterKey:
        return self.pending or self.current

    def get(self, key_id: str) -> MasterKey | None:
        for key in (self.pending, self.current):
            if key is not None and key.key_id == key_id:
                return key
        return None

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey:
        """Encrypt ``data_key``; ``context`` (what the key is for) must be given again to unwrap."""
        master = self.wrapping_key
        nonce = secrets.token_bytes(NONCE_BYTES)
        ct = AESGCM(master.key).encrypt(nonce, data_key, _WRAP_AAD + context)
        return WrappedKey(master.key_id, nonce, ct)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        master = self.get(wrapped.key_id)
        if master is None:
            held = ", ".join(k.key_id for k in (self.current, self.pending) if k is not None)
            raise IntegrityError(
                f"data key is wrapped under master key {wrapped.key_id}, which is not loaded "
                f"(loaded: {held}); the master key file is the wrong one or was lost"
            )
        try:
            return AESGCM(master.key).decrypt(
                wrapped.nonce, wrapped.ciphertext, _WRAP_AAD + context
            )
        except InvalidTag:
            raise IntegrityError(
                "wrapped data key failed authentication (tampered, or moved from another object)"
            ) from None


def pending_key_path(path: Path) -> Path:
    """Where a rotation keeps the next master key until it takes over."""
    return path.with_name(path.name + PENDING_SUFFIX)


def promote_pending_key(path: Path) -> None:
    """Make ``<path>.new`` the master key, atomically, retiring the old one."""
    os.replace(pending_key_path(path), path)
    _fsync_dir(path.parent)
