"""A model version's MLflow folder, served read-only through MLflow's artifact routes.

For a version whose package MLflow can load through Corridor (`pyfunc_folder.FLAVOURS`),
``get-download-uri`` answers ``mlflow-artifacts:/model-versions/<version_id>/artifacts``, and
the artifact routes list and stream the folder `pyfunc_folder` describes: the written files
and the package's signature from memory, the package's files and manifest from the blob store,
verified as they are read.
Nothing is stored for it: the folder is worked out from the version on each request, so it
cannot drift from the package, and the package (and its digest) is never touched.
"""

from __future__ import annotations

import contextlib
import io
import platform
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.orm import Session

import corridor
from corridor.errors import InvalidInput, NotFound
from corridor.mlflow_compat.pyfunc_folder import (
    MANIFEST_PATH,
    SIGNATURE_PATH,
    PackageFacts,
    loads_through_mlflow,
    package_path,
    written_files,
)
from corridor.registry import service
from corridor.registry.entities import ModelVersionRecord
from corridor.registry.package_store import read_manifest
from corridor.registry.signatures import get_signature
from corridor.security.signing_keys import public_keys
from corridor.store.blobs import BlobStore
from corridor.tracking.artifact_paths import join
from corridor.tracking.entities import FileInfo


@dataclass(frozen=True)
class _Blob:
    digest: str
    size: int


@dataclass(frozen=True)
class VersionFolder:
    """The files of one version's folder by path: written bytes, or blobs of the package."""

    version: ModelVersionRecord
    files: dict[str, bytes | _Blob]
    blobs: BlobStore

    def list(self, directory: str) -> list[FileInfo]:
        """The entries directly inside ``directory`` ('' for the top), sorted by path."""
        prefix = join(directory, "") if directory else ""
        found: dict[str, FileInfo] = {}
        for path, content in self.files.items():
            if not path.startswith(prefix):
                continue
            head, sep, _ = path[len(prefix) :].partition("/")
            entry = prefix + head
            if sep:
                found[entry] = FileInfo(entry, True, None)
            else:
                size = len(content) if isinstance(content, bytes) else content.size
                found[entry] = FileInfo(entry, False, size)
        return [found[p] for p in sorted(found)]

    def open(self, path: str) -> tuple[BinaryIO, int]:
        """A reader of one file and its size; `NotFound` for anything else."""
        content = self.files.get(path)
        if content is None:
            raise NotFound(f"model version {self.version.id!r} has no file {path!r}")
        if isinstance(content, bytes):
            return io.BytesIO(content), len(content)
        return self.blobs.open(content.digest), content.size


def _folder_files(
    session: Session, version: ModelVersionRecord, digest: str, blobs: BlobStore
) -> dict[str, bytes | _Blob]:
    manifest = read_manifest(blobs, digest)
    facts = PackageFacts(
        name=version.name,
        version=version.version,
        package_digest=digest,
        corridor_version=corridor.__version__,
        python_version=platform.python_version(),
    )
    files: dict[str, bytes | _Blob] = dict(written_files(manifest, facts, public_keys(session)))
    for rel, entry in manifest.files.items():
        files[package_path(rel)] = _Blob(entry.digest, entry.size)
    files[MANIFEST_PATH] = _Blob(digest, blobs.size(digest))
    # A package stored before signing existed has none: the loader refuses it, saying how to
    # have it signed.
    with contextlib.suppress(NotFound):
        files[SIGNATURE_PATH] = get_signature(session, digest).bundle.encode()
    return files


def open_folder(session: Session, blobs: BlobStore, version_id: str) -> VersionFolder:
    """The folder of the version ``version_id``; `InvalidInput` if MLflow cannot load it so."""
    version = service.get_model_version_by_id(session, version_id)
    if not serves_folder(version):
        raise InvalidInput(
            f"version {version.version} of {version.name!r} (flavour {version.flavour!r}) has "
            "no MLflow folder; load it with Corridor's client"
        )
    assert version.package_digest is not None
    files = _folder_files(session, version, version.package_digest, blobs)
    return VersionFolder(version, files, blobs)


def serves_folder(version: ModelVersionRecord) -> bool:
    """Whether MLflow clients load ``version`` from its written folder."""
    return version.package_digest is not None and loads_through_mlflow(version.flavour)
