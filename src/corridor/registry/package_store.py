"""Model packages in the blob store: gather files, store them and their manifest, read them back.

Nothing is half-stored on bad input: every path is checked before the first byte is written,
and the manifest (which is what makes a set of blobs a package) is stored last, only once every
file it lists is in the store with the size it claims.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from corridor.errors import InvalidInput, NotFound
from corridor.registry.folders import collect_files
from corridor.registry.manifest import (
    FileEntry,
    Manifest,
    ManifestFields,
    build_manifest,
    canonical_json,
    check_package_path,
    package_digest,
    parse_manifest,
)
from corridor.store.blobs import BlobStore, check_digest

READ_BYTES = 1024 * 1024
# A manifest lists at most MAX_FILES entries of bounded size; anything bigger is not one.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024

PackageSource = Path | Iterable[tuple[str, Path]]


def _chunks(f: BinaryIO, counter: list[int]) -> Iterator[bytes]:
    while chunk := f.read(READ_BYTES):
        counter[0] += len(chunk)
        yield chunk


def put_file(blobs: BlobStore, path: Path) -> FileEntry:
    """Stream one file into the blob store; return its digest and size."""
    counter = [0]
    with path.open("rb") as f:
        digest = blobs.put(_chunks(f, counter))
    return FileEntry(digest=digest, size=counter[0])


def _inputs(source: PackageSource) -> list[tuple[str, Path]]:
    if isinstance(source, Path):
        return collect_files(source)
    pairs = [(check_package_path(rel), Path(path)) for rel, path in source]
    seen: set[str] = set()
    for rel, path in pairs:
        if rel in seen:
            raise InvalidInput(f"package file path {rel!r} is given twice")
        seen.add(rel)
        if not path.is_file():
            raise InvalidInput(f"{path} (for {rel!r}) is not a file")
    if not pairs:
        raise InvalidInput("a package needs at least one file")
    return pairs


def store_package(
    blobs: BlobStore,
    source: PackageSource,
    fields: ManifestFields,
    *,
    created_at: dt.datetime | None = None,
) -> tuple[str, Manifest]:
    """Store a folder, a file, or ``(package path, file)`` pairs as a package.

    Return ``(package digest, manifest)``.
    """
    pairs = _inputs(source)
    # Check the manifest fields against the paths before writing anything.
    build_manifest(fields, {rel: FileEntry(digest="0" * 64, size=0) for rel, _ in pairs}, _now())
    files = {rel: put_file(blobs, path) for rel, path in pairs}
    return store_manifest(blobs, fields, files, created_at=created_at)


def store_manifest(
    blobs: BlobStore,
    fields: ManifestFields,
    files: Mapping[str, FileEntry],
    *,
    created_at: dt.datetime | None = None,
) -> tuple[str, Manifest]:
    """Store the manifest of files already in the blob store; return ``(digest, manifest)``."""
    manifest = build_manifest(fields, dict(files), created_at or _now())
    check_files_present(blobs, manifest.files)
    data = canonical_json(manifest)
    digest = blobs.put(data)
    assert digest == package_digest(manifest)
    return digest, manifest


def check_files_present(blobs: BlobStore, files: Mapping[str, FileEntry]) -> None:
    """Raise `InvalidInput` naming the first listed file missing from the store or resized."""
    for rel, entry in sorted(files.items()):
        if not blobs.exists(entry.digest):
            raise InvalidInput(f"package file {rel!r}: blob {entry.digest} was never uploaded")
        size = blobs.size(entry.digest)
        if size != entry.size:
            raise InvalidInput(
                f"package file {rel!r} is listed as {entry.size} bytes but its blob has {size}"
            )


def read_manifest(blobs: BlobStore, digest: str) -> Manifest:
    """The manifest stored under ``digest``; `NotFound` or `InvalidInput` if there is none."""
    check_digest(digest)
    try:
        with blobs.open(digest) as f:
            data = f.read(MAX_MANIFEST_BYTES + 1)
    except NotFound:
        raise NotFound(f"package {digest} does not exist") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise InvalidInput(f"blob {digest} is not a package manifest (too large)")
    try:
        return parse_manifest(data)
    except InvalidInput as exc:
        raise InvalidInput(f"blob {digest} is not a package manifest: {exc.message}") from None


@dataclass(frozen=True)
class OpenedPackage:
    """A stored package: its manifest, and a way to open each of its files."""

    digest: str
    manifest: Manifest
    blobs: BlobStore

    def open(self, path: str) -> BinaryIO:
        """Open one listed file; its bytes are verified against the digest as they are read."""
        entry = self.manifest.files.get(path)
        if entry is None:
            raise NotFound(f"package {self.digest} has no file {path!r}")
        return self.blobs.open(entry.digest)


def open_package(blobs: BlobStore, digest: str) -> OpenedPackage:
    return OpenedPackage(digest, read_manifest(blobs, digest), blobs)


def verify_package(blobs: BlobStore, digest: str, *, read_all: bool = False) -> Manifest:
    """Check that every listed file is stored with its size; ``read_all`` also re-hashes each.

    Raise `InvalidInput` (missing or resized) or `BlobCorrupted` (bytes changed).
    """
    package = open_package(blobs, digest)
    check_files_present(blobs, package.manifest.files)
    if read_all:
        for rel in sorted(package.manifest.files):
            with package.open(rel) as f:
                while f.read(READ_BYTES):
                    pass
    return package.manifest


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
