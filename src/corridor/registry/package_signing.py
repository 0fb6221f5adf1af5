"""OpenSSF model signing of model packages: sign a manifest's digests, verify a downloaded folder.

What is signed is what a download writes: every package file plus ``corridor-manifest.json``
(the manifest's canonical JSON). The server never hashes a file again to sign: the manifest
already holds each file's SHA-256 (the blob store's digest of the plaintext), and the manifest
file's SHA-256 is the package digest. From those the signer builds model_signing's manifest,
described exactly as model_signing's own verifier describes a folder it hashes (method
``files``, ``sha256``, no symbolic links, the signature file and the git paths ignored), so
that the stock verifier accepts the bundle:

    model_signing.verifying.Config().use_elliptic_key_verifier(public_key="key.pem")
        .verify("folder", "folder/corridor-model.sig")

The signature is a Sigstore bundle made by model_signing's elliptic-key signer (EC P-256,
offline). Its ``verificationMaterial.publicKey.hint`` is the SHA-256 of the signing key's public
PEM, which is also the key's id in Corridor, so a verifier picks the trusted key by that hint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from model_signing import hashing as ms_hashing
from model_signing import manifest as ms_manifest
from model_signing import verifying as ms_verifying
from model_signing._hashing.hashing import Digest
from model_signing._signing import sign_ec_key, sign_sigstore_pb
from model_signing._signing import signing as ms_signing

from corridor.errors import InvalidInput, SignatureInvalid
from corridor.registry.manifest import (
    MANIFEST_FILE_NAME,
    Manifest,
    canonical_json,
    parse_manifest,
)
from corridor.security.signing_keys import key_id_of, public_pem

SIGNATURE_FILE_NAME = "corridor-model.sig"
HASH_TYPE = "sha256"
# model_signing's hashing always leaves these out of a folder (`hashing.Config.hash`), so a
# package file at one of them could never be verified.
VERIFIER_IGNORED_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
IGNORE_PATHS = (SIGNATURE_FILE_NAME, *VERIFIER_IGNORED_PATHS)
MAX_SIGNATURE_BYTES = 64 * 1024 * 1024


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The id of a signing key: the SHA-256 of its public PEM, model_signing's key hint."""
    return key_id_of(public_pem(public_key))


def load_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    """Read a PEM public key; `InvalidInput` unless it is an EC P-256 key."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise InvalidInput("the public key is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise InvalidInput("the public key is not an EC P-256 key")
    return key


def trusted_keys(pems: Iterable[bytes]) -> dict[str, bytes]:
    """Public keys by id, each in the PEM form whose SHA-256 is its id."""
    found: dict[str, bytes] = {}
    for pem in pems:
        key = load_public_key(pem)
        found[key_id(key)] = public_pem(key)
    return found


def check_signable(paths: Iterable[str]) -> None:
    """Refuse a package a verifier could not check whole: a file model_signing leaves out."""
    for path in paths:
        top = path.split("/", 1)[0]
        if path == SIGNATURE_FILE_NAME or top in VERIFIER_IGNORED_PATHS:
            raise InvalidInput(
                f"package file path {path!r} is left out by model signing verification "
                f"({', '.join(IGNORE_PATHS)} are), so it could not be verified: rename it"
            )


def signed_digests(manifest: Manifest, manifest_json: bytes) -> dict[str, str]:
    """What a signature covers: each path of the downloaded folder and its SHA-256."""
    digests = {path: entry.digest for path, entry in manifest.files.items()}
    digests[MANIFEST_FILE_NAME] = hashlib.sha256(manifest_json).hexdigest()
    return digests


def _statement_manifest(digests: Mapping[str, str], name: str) -> ms_manifest.Manifest:
    serialization = ms_manifest._FileSerialization(
        HASH_TYPE, allow_symlinks=False, ignore_paths=[pathlib.Path(p) for p in IGNORE_PATHS]
    )
    items = [
        ms_manifest.FileManifestItem(
            path=pathlib.PurePosixPath(path), digest=Digest(HASH_TYPE, bytes.fromhex(digest))
        )
        for path, digest in sorted(digests.items())
    ]
    return ms_manifest.Manifest(name, items, serialization)


class _KeySigner(sign_ec_key.Signer):
    """model_signing's elliptic-key signer over a key held in memory (its own reads a file,
    and a private key is never written to disk here)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        sign_ec_key._check_supported_ec_key(private_key.public_key())
        self._private_key = private_key


def sign_manifest(
    private_key: ec.EllipticCurvePrivateKey, manifest: Manifest, manifest_json: bytes
) -> bytes:
    """The signature bundle (JSON) of the package ``manifest_json`` describes."""
    check_signable(manifest.files)
    digest = hashlib.sha256(manifest_json).hexdigest()
    statement = _statement_manifest(signed_digests(manifest, manifest_json), f"package-{digest}")
    signature = cast(Any, _KeySigner(private_key).sign(ms_signing.Payload(statement)))
    return cast(str, signature.bundle.to_json()).encode()


def bundle_key_id(bundle: bytes) -> str:
    """The key hint a bundle names; `SignatureInvalid` if it is no model-signing bundle."""
    try:
        doc = json.loads(bundle)
        hint = doc["verificationMaterial"]["publicKey"]["hint"]
    except (ValueError, KeyError, TypeError):
        raise SignatureInvalid(
            f"{SIGNATURE_FILE_NAME} is not a model-signing bundle made with a key"
        ) from None
    if not isinstance(hint, str) or not hint:
        raise SignatureInvalid(f"{SIGNATURE_FILE_NAME} names no signing key")
    return hint


def _signed_resources(bundle: bytes) -> dict[str, str]:
    """The paths and digests a (verified) bundle's statement lists."""
    doc = json.loads(bundle)
    statement = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    return {r["name"]: r["digest"] for r in statement["predicate"]["resources"]}


@dataclass(frozen=True)
class VerifiedPackage:
    """A folder whose files match a signature made by a trusted key."""

    key_id: str
    manifest: Manifest
    files: int  # signed files, the manifest file included


def verify_folder(folder: Path, public_keys: Mapping[str, bytes]) -> VerifiedPackage:
    """Check ``folder`` (a downloaded package) against its ``corridor-model.sig``.

    ``public_keys`` are the trusted keys by id (`trusted_keys`). Raise `SignatureInvalid`
    saying what failed: no signature, an unknown key, a bad signature, an extra, missing or
    changed file, or an edited manifest.
    """
    sig = folder / SIGNATURE_FILE_NAME
    if not sig.is_file() or sig.is_symlink():
        raise SignatureInvalid(
            f"{folder} has no signature ({SIGNATURE_FILE_NAME}): the package is unsigned, so it "
            "is not loaded. A server administrator signs packages stored before signing with "
            "`corridor admin signing-key sign-missing`"
        )
    if sig.stat().st_size > MAX_SIGNATURE_BYTES:
        raise SignatureInvalid(f"{SIGNATURE_FILE_NAME} is too large to be a signature")
    bundle = sig.read_bytes()
    kid = bundle_key_id(bundle)
    pem = public_keys.get(kid)
    if pem is None:
        known = ", ".join(k[:16] for k in sorted(public_keys)) or "none"
        raise SignatureInvalid(
            f"the package is signed by key {kid[:16]}, which is not a trusted key "
            f"(trusted: {known})"
        )
    with tempfile.TemporaryDirectory(prefix="corridor-key-") as tmp:
        key_file = Path(tmp) / "key.pem"
        key_file.write_bytes(pem)
        try:
            config = ms_verifying.Config()  # type: ignore[no-untyped-call]
            config.use_elliptic_key_verifier(public_key=key_file)
            config.verify(folder, sig)
        except Exception as exc:
            raise SignatureInvalid(_why(folder, sig, key_file, kid, exc)) from None
    return _consistent(folder, bundle, kid)


def _consistent(folder: Path, bundle: bytes, kid: str) -> VerifiedPackage:
    """The verified folder's manifest, checked to list exactly the signed files."""
    manifest_json = (folder / MANIFEST_FILE_NAME).read_bytes()
    try:
        manifest = parse_manifest(manifest_json)
    except InvalidInput as exc:
        raise SignatureInvalid(f"the signed {MANIFEST_FILE_NAME} is unreadable: {exc}") from None
    signed = _signed_resources(bundle)
    if signed != signed_digests(manifest, manifest_json):
        raise SignatureInvalid(
            f"the signature does not list exactly the files of {MANIFEST_FILE_NAME}"
        )
    return VerifiedPackage(kid, manifest, len(signed))


def _why(folder: Path, sig: Path, key_file: Path, kid: str, exc: Exception) -> str:
    """Say what failed, by redoing the verifier's two steps with model_signing's own parts."""
    try:
        signature = sign_sigstore_pb.Signature.read(sig)
        expected = sign_ec_key.Verifier(key_file).verify(signature)
    except Exception:
        return (
            f"the signature in {SIGNATURE_FILE_NAME} does not verify with key {kid[:16]}: "
            "the signature file was altered"
        )
    try:
        hashing_config = ms_hashing.Config()  # type: ignore[no-untyped-call]
        hashing_config.use_file_serialization(hashing_algorithm="sha256", allow_symlinks=False)
        hashing_config.add_ignored_paths(model_path=folder, paths=list(IGNORE_PATHS))
        actual = hashing_config.hash(folder)
    except Exception as err:
        return f"the folder cannot be checked: {err}"
    want = {rd.identifier: rd.digest for rd in expected.resource_descriptors()}
    got = {rd.identifier: rd.digest for rd in actual.resource_descriptors()}
    problems = []
    if extra := sorted(set(got) - set(want)):
        problems.append(f"extra file(s) not in the signed package: {', '.join(extra)}")
    if missing := sorted(set(want) - set(got)):
        problems.append(f"missing file(s): {', '.join(missing)}")
    changed = sorted(p for p in set(want) & set(got) if want[p] != got[p])
    if MANIFEST_FILE_NAME in changed:
        changed.remove(MANIFEST_FILE_NAME)
        problems.append(f"the manifest {MANIFEST_FILE_NAME} was edited")
    if changed:
        problems.append(f"changed file(s): {', '.join(changed)}")
    if not problems:
        problems.append(str(exc) or type(exc).__name__)
    return "the package does not match its signature: " + "; ".join(problems)


def public_key_file_pems(paths: Iterable[str | os.PathLike[str]]) -> list[bytes]:
    """Read pinned public keys (``--public-key FILE``)."""
    pems = []
    for path in paths:
        try:
            pem = Path(path).read_bytes()
            load_public_key(pem)
        except OSError as exc:
            raise InvalidInput(f"cannot read public key {path}: {exc.strerror}") from None
        except InvalidInput as exc:
            raise InvalidInput(f"{path}: {exc.message}") from None
        pems.append(pem)
    return pems


def verify_before_loading(
    folder: Path, manifest: Manifest, public_keys: Iterable[bytes] | None
) -> VerifiedPackage:
    """What every loader runs first: ``folder`` verifies with one of ``public_keys``, and
    ``manifest`` is the one that was signed."""
    if public_keys is None:
        raise SignatureInvalid(
            "no public keys to verify the package with: pass public_keys= (the server's, from "
            "client.registry.public_keys(), or a key you pinned); nothing is loaded unverified"
        )
    verified = verify_folder(folder, trusted_keys(public_keys))
    if canonical_json(verified.manifest) != canonical_json(manifest):
        raise SignatureInvalid(f"the manifest given is not the signed one in {folder}")
    return verified
