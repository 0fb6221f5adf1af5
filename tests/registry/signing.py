"""Sign a folder as the server signs a package, for tests of loaders that run without a server."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from corridor.registry.manifest import (
    MANIFEST_FILE_NAME,
    FileEntry,
    Manifest,
    ManifestFields,
    build_manifest,
    canonical_json,
)
from corridor.registry.package_signing import SIGNATURE_FILE_NAME, sign_manifest
from corridor.security.signing_keys import public_pem


def sign_folder(
    folder: Path, fields: ManifestFields, key: ec.EllipticCurvePrivateKey | None = None
) -> tuple[Manifest, list[bytes]]:
    """Write the manifest and signature of the files in ``folder``, as a download would hold
    them; return the manifest and the public key (PEM) that verifies it."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel in (MANIFEST_FILE_NAME, SIGNATURE_FILE_NAME):
            continue
        data = path.read_bytes()
        files[rel] = FileEntry(digest=hashlib.sha256(data).hexdigest(), size=len(data))
    manifest = build_manifest(fields, files, dt.datetime.now(dt.UTC))
    data = canonical_json(manifest)
    (folder / MANIFEST_FILE_NAME).write_bytes(data)
    (folder / SIGNATURE_FILE_NAME).write_bytes(sign_manifest(key, manifest, data))
    return manifest, [public_pem(key.public_key())]
