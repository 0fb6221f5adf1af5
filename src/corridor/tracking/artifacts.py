"""A run's artifacts: a tree of files whose bytes live in the blob store.

The tree is rows of (run, path, digest, size, mtime); directories are implied by paths, as in an
object store. Uploads stream into the blob store before any transaction opens, so a slow client
never holds the metadata store's write lock; the row that publishes the file is written after
the bytes are safe. Blobs are content-addressed and may be shared, so replacing or deleting an
artifact removes its row, never the blob.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from corridor.errors import Conflict, NotFound
from corridor.store.db import Database
from corridor.tracking import sql
from corridor.tracking.artifact_paths import check_artifact_path, join
from corridor.tracking.entities import FileInfo
from corridor.tracking.models import Artifact
from corridor.tracking.runs import active_run_row, run_row
from corridor.tracking.validation import now_ms

if TYPE_CHECKING:
    from corridor.security.stream_cipher import Plaintext
    from corridor.store.blobs import BlobStore

READ_CHUNK_BYTES = 1024 * 1024


def _under(prefix: str) -> object:
    """SQL: the artifact's path starts with ``prefix`` (exactly, whatever the collation)."""
    return func.substr(Artifact.path, 1, len(prefix)) == prefix


def _check_tree(session: Session, run_id: str, path: str) -> None:
    """Refuse a file where a directory is, or below a file."""
    parts = path.split("/")
    ancestors = ["/".join(parts[:i]) for i in range(1, len(parts))]
    clash = session.scalar(
        select(Artifact.path)
        .where(
            Artifact.run_id == run_id,
            or_(Artifact.path.in_(ancestors), _under(path + "/")),  # type: ignore[arg-type]
        )
        .limit(1)
    )
    if clash is None:
        return
    if clash in ancestors:
        raise Conflict(f"artifact {clash!r} is a file, so {path!r} cannot be inside it")
    raise Conflict(f"artifact path {path!r} is a directory (it holds {clash!r})")


class _Counted:
    """Pass a byte source through, counting the bytes."""

    def __init__(self, source: Plaintext) -> None:
        self.source = source
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        source = self.source
        if isinstance(source, bytes | bytearray | memoryview):
            pieces: Iterable[bytes] = [bytes(source)]
        elif hasattr(source, "read"):
            pieces = iter(lambda: source.read(READ_CHUNK_BYTES), b"")
        else:
            pieces = (bytes(p) for p in source)
        for piece in pieces:
            self.size += len(piece)
            yield piece


def put_artifact(
    db: Database, blobs: BlobStore, run_id: str, path: str, source: Plaintext
) -> FileInfo:
    """Store ``source`` (bytes, a binary file or an iterable of bytes) at ``path`` in a run.

    Replaces the file at ``path`` if there is one. `InvalidInput` for an unsafe path,
    `Conflict` if the run is deleted or the path collides with a directory or file.
    """
    check_artifact_path(path)
    with db.read() as session:
        active_run_row(session, run_id)
        _check_tree(session, run_id, path)
    counted = _Counted(source)
    digest = blobs.put(counted)
    mtime = now_ms()
    with db.write() as session:
        active_run_row(session, run_id)
        _check_tree(session, run_id, path)
        row = {"run_id": run_id, "path": path, "digest": digest, "size": counted.size}
        sql.upsert(
            session,
            Artifact.__table__,  # type: ignore[arg-type]
            [{**row, "mtime": mtime}],
            key=("run_id", "path"),
            update=("digest", "size", "mtime"),
        )
    return FileInfo(path=path, is_dir=False, file_size=counted.size, mtime=mtime, digest=digest)


def list_artifacts(session: Session, run_id: str, directory: str = "") -> list[FileInfo]:
    """The entries directly inside ``directory`` ('' for the top), directories first by name.

    A directory that holds nothing, or a path that names a file, lists as empty (as in MLflow).
    """
    check_artifact_path(directory, allow_root=True)
    run_row(session, run_id)
    prefix = directory + "/" if directory else ""
    query = select(Artifact.path, Artifact.size, Artifact.mtime, Artifact.digest).where(
        Artifact.run_id == run_id
    )
    if prefix:
        query = query.where(_under(prefix))  # type: ignore[arg-type]
    files: list[FileInfo] = []
    dirs: set[str] = set()
    for path, size, mtime, digest in session.execute(query.order_by(Artifact.path)):
        head, slash, _ = path[len(prefix) :].partition("/")
        if slash:
            dirs.add(join(directory, head))
        else:
            files.append(FileInfo(path, False, size, mtime, digest))
    listed = [FileInfo(d, True, None) for d in sorted(dirs)] + files
    return sorted(listed, key=lambda f: f.path)


def stat_artifact(session: Session, run_id: str, path: str) -> FileInfo:
    """The file at ``path``; `NotFound` if there is none (a directory is not a file)."""
    check_artifact_path(path)
    run_row(session, run_id)
    row = session.execute(
        select(Artifact.size, Artifact.mtime, Artifact.digest).where(
            Artifact.run_id == run_id, Artifact.path == path
        )
    ).first()
    if row is None:
        raise NotFound(f"run {run_id} has no artifact file {path!r}")
    return FileInfo(path, False, row[0], row[1], row[2])


def open_artifact(
    session: Session, blobs: BlobStore, run_id: str, path: str
) -> tuple[FileInfo, BinaryIO]:
    """The file at ``path`` and a reader of its bytes (verified as they are read)."""
    info = stat_artifact(session, run_id, path)
    assert info.digest is not None
    return info, blobs.open(info.digest)


def delete_artifacts(session: Session, run_id: str, path: str) -> int:
    """Remove the file at ``path``, or everything under the directory ``path``; return how many."""
    check_artifact_path(path)
    active_run_row(session, run_id)
    result = session.execute(
        delete(Artifact).where(
            Artifact.run_id == run_id,
            or_(Artifact.path == path, _under(path + "/")),  # type: ignore[arg-type]
        )
    )
    count: int = result.rowcount  # type: ignore[attr-defined]
    if count == 0:
        raise NotFound(f"run {run_id} has no artifact {path!r}")
    return count
