"""Registered packages as folders a replica loads from: one folder per package digest, written
once, whole or not at all.

``cache_root/<digest>/`` holds every file of the package, ``corridor-manifest.json`` (the stored
manifest, whose SHA-256 is the digest) and, when the package is signed, ``corridor-model.sig``:
the layout a client's download writes, so the same verifier checks both. A folder is written
under a temporary name in ``cache_root`` and renamed into place, so a crash or a failed read
leaves no half folder at the final name, and two callers materialising the same package at once
both end up with the one complete folder: in one process the second waits for the first (one
lock per digest, so a large package is read from the blob store once); across processes the
second rename loses and its copy is removed.

An existing folder is reused without re-reading its files (only its manifest, whose SHA-256
must be the digest): loading verifies every byte against the signature anyway
(`corridor.serving.runtimes.registry.load_served_model`), and a folder edited on disk fails
that check rather than being quietly rewritten. `discard` removes it (renamed away first, so
no caller sees half of it) and the next `materialise` writes it again.

The signature lives in the metadata store, not in the blob store: read it with
`package_signature` in the caller's transaction and pass it to `materialise`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy.orm import Session

from corridor.config import Settings
from corridor.errors import IntegrityError, InvalidInput
from corridor.registry.manifest import MANIFEST_FILE_NAME, Manifest, canonical_json, parse_manifest
from corridor.registry.package_signing import SIGNATURE_FILE_NAME
from corridor.registry.package_store import READ_BYTES, open_package
from corridor.security import signing_keys
from corridor.security.signing_models import PackageSignature
from corridor.store.blobs import BlobStore, check_digest

# A temporary folder older than this was left by a crashed writer and is removed.
STALE_TMP_S = 3600.0
_TMP_MARK = ".tmp-"
_WRITING: dict[str, threading.Lock] = {}
_WRITING_GUARD = threading.Lock()


def package_cache(settings: Settings) -> Path:
    """Where a server keeps the folders of the packages it serves."""
    return settings.home / "serving" / "packages"


def public_keys(session: Session) -> list[bytes]:
    """The PEM public keys packages are verified with: every signing key, retired ones too."""
    return list(signing_keys.public_keys(session).values())


def package_signature(session: Session, digest: str) -> bytes | None:
    """The signature bundle of package ``digest``, or None if it is not signed yet."""
    row = session.get(PackageSignature, digest)
    return None if row is None else row.bundle.encode()


def materialise(
    blobs: BlobStore, package_digest: str, cache_root: Path, *, signature: bytes | None = None
) -> tuple[Path, Manifest]:
    """The folder of package ``package_digest`` under ``cache_root``, written if missing, and
    its manifest.

    ``signature`` (from `package_signature`) is written beside the files; without it the folder
    has none and loading refuses it as unsigned. Raise `NotFound` for an unknown package,
    `BlobCorrupted` or `IntegrityError` if a stored file does not match its manifest entry.
    """
    check_digest(package_digest)
    folder = cache_root / package_digest
    if folder.is_dir():
        return folder, _existing(folder, signature)
    with _WRITING_GUARD:
        lock = _WRITING.setdefault(package_digest, threading.Lock())
    with lock:
        if folder.is_dir():
            return folder, _existing(folder, signature)
        return folder, _write(blobs, package_digest, folder, signature)


def discard(cache_root: Path, package_digest: str) -> None:
    """Remove the folder of ``package_digest`` (say, after it failed its signature check), so
    that the next `materialise` writes it again; nothing if there is none."""
    check_digest(package_digest)
    folder = cache_root / package_digest
    doomed = cache_root / f"{package_digest}{_TMP_MARK}discarded-{uuid.uuid4().hex}"
    try:
        folder.rename(doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


def _existing(folder: Path, signature: bytes | None) -> Manifest:
    try:
        data = (folder / MANIFEST_FILE_NAME).read_bytes()
        if hashlib.sha256(data).hexdigest() != folder.name:
            raise InvalidInput("the manifest is not the package's")
        manifest = parse_manifest(data)
    except (OSError, InvalidInput):
        raise IntegrityError(
            f"{folder} is not a complete package folder (its {MANIFEST_FILE_NAME} is missing, "
            "unreadable or another package's): discard it and it is written again"
        ) from None
    if signature is not None:
        _write_signature(folder, signature)
    return manifest


def _write(
    blobs: BlobStore, package_digest: str, folder: Path, signature: bytes | None
) -> Manifest:
    cache_root = folder.parent
    cache_root.mkdir(parents=True, exist_ok=True)
    _remove_stale(cache_root)
    package = open_package(blobs, package_digest)
    tmp = cache_root / f"{package_digest}{_TMP_MARK}{uuid.uuid4().hex}"
    try:
        tmp.mkdir()
        for rel, entry in sorted(package.manifest.files.items()):
            target = tmp / rel  # every path was checked when the manifest was parsed
            target.parent.mkdir(parents=True, exist_ok=True)
            digest, size = hashlib.sha256(), 0
            with package.open(rel) as source, target.open("xb") as out:
                while chunk := source.read(READ_BYTES):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            if digest.hexdigest() != entry.digest or size != entry.size:
                raise IntegrityError(
                    f"file {rel!r} of package {package_digest} does not match its manifest entry"
                )
        (tmp / MANIFEST_FILE_NAME).write_bytes(canonical_json(package.manifest))
        if signature is not None:
            (tmp / SIGNATURE_FILE_NAME).write_bytes(signature)
        _fsync_tree(tmp)
        try:
            tmp.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
            # Another caller renamed its complete copy into place first: use that one.
            shutil.rmtree(tmp, ignore_errors=True)
            if signature is not None:
                _write_signature(folder, signature)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return package.manifest


def _write_signature(folder: Path, signature: bytes) -> None:
    """Put ``signature`` beside the files, replacing the file atomically if it differs."""
    path = folder / SIGNATURE_FILE_NAME
    if path.is_file() and path.read_bytes() == signature:
        return
    tmp = folder.parent / f"{folder.name}{_TMP_MARK}sig-{uuid.uuid4().hex}"
    tmp.write_bytes(signature)
    os.replace(tmp, path)


def _fsync_tree(folder: Path) -> None:
    """Flush the files to disk before the rename makes the folder visible as complete."""
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _remove_stale(cache_root: Path) -> None:
    cutoff = time.time() - STALE_TMP_S
    for path in cache_root.iterdir():
        if _TMP_MARK not in path.name:
            continue
        try:
            if path.stat().st_mtime >= cutoff:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            pass  # another caller removed it first
