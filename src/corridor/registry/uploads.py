"""Which blobs a project may put in its packages, and whether a package may be used.

Blobs are shared by digest across the server, but knowing a digest must not be enough to pull
another project's file into your package (and then download it). So a blob is usable in a
project only once it was uploaded into that project, or arrived there as part of a version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput, NotFound
from corridor.registry.manifest import FileEntry, Manifest
from corridor.registry.models import ModelVersion, PackageUpload, RegisteredModel
from corridor.registry.package_store import check_files_present, read_manifest
from corridor.security.policy import Principal
from corridor.security.projects import readable_project_ids
from corridor.store.base import utcnow
from corridor.store.blobs import BlobStore
from corridor.store.dialects import dialect_of

_CHUNK = 500


def stage_blobs(session: Session, project_id: str, sizes: Mapping[str, int]) -> None:
    """Make blobs usable in a project's packages (after the caller checked it may use them)."""
    if not sizes:
        return
    insert = dialect_of(session).insert
    now = utcnow()
    rows = [
        {"project_id": project_id, "digest": d, "size": s, "created_at": now}
        for d, s in sorted(sizes.items())
    ]
    session.execute(insert(PackageUpload).on_conflict_do_nothing(), rows)


def staged(session: Session, project_id: str, digests: Iterable[str]) -> set[str]:
    """Those of ``digests`` usable in the project."""
    wanted = sorted(set(digests))
    found: set[str] = set()
    for i in range(0, len(wanted), _CHUNK):
        found.update(
            session.scalars(
                select(PackageUpload.digest).where(
                    PackageUpload.project_id == project_id,
                    PackageUpload.digest.in_(wanted[i : i + _CHUNK]),
                )
            )
        )
    return found


def check_files_staged(
    session: Session, blobs: BlobStore, project_id: str, files: Mapping[str, FileEntry]
) -> None:
    """Raise unless every file is usable in the project and stored with its listed size."""
    usable = staged(session, project_id, (f.digest for f in files.values()))
    for rel, entry in sorted(files.items()):
        if entry.digest not in usable:
            raise InvalidInput(
                f"package file {rel!r}: blob {entry.digest} was not uploaded to this project; "
                "upload the file first"
            )
    check_files_present(blobs, files)


def _used_by_readable_version(session: Session, digest: str, principal: Principal) -> bool:
    query = (
        select(ModelVersion.id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.registered_model_id)
        .where(ModelVersion.package_digest == digest)
    )
    readable = readable_project_ids(session, principal)
    if readable is not None:
        query = query.where(RegisteredModel.project_id.in_(sorted(readable)))
    return session.scalar(query.limit(1)) is not None


def usable_package(
    session: Session, blobs: BlobStore, digest: str, *, project_id: str, by: Principal
) -> Manifest:
    """The manifest of package ``digest`` if ``by`` may use it in the project; else `NotFound`.

    Usable: a version ``by`` can read has it already, or its manifest and every file in it
    were uploaded to the project.
    """
    if not _used_by_readable_version(session, digest, by):
        if not staged(session, project_id, [digest]):
            raise NotFound(f"package {digest} not found in this project")
        manifest = read_manifest(blobs, digest)
        check_files_staged(session, blobs, project_id, manifest.files)
        return manifest
    manifest = read_manifest(blobs, digest)
    check_files_present(blobs, manifest.files)
    return manifest


def stage_package(session: Session, project_id: str, digest: str, manifest: Manifest) -> None:
    """Make a package and its files usable in a project (once a version there holds it)."""
    sizes = {f.digest: f.size for f in manifest.files.values()}
    sizes.setdefault(digest, 0)
    stage_blobs(session, project_id, sizes)


def referenced_blobs() -> list[Select[tuple[str]] | Select[tuple[str | None]]]:
    """The blobs the registry holds (a reference source of the blob sweep).

    Staged blobs count, and every file of a package is staged once a version holds it
    (`stage_package`), so the files listed in manifests are covered without reading them.
    """
    return [select(PackageUpload.digest), select(ModelVersion.package_digest)]
