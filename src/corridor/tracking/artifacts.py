"""Artifacts of a run or a logged model: a tree of files whose bytes live in the blob store.

The tree is rows of (owner, path, digest, size, mtime); directories are implied by paths, as in
an object store. The owner is a run or an MLflow 3 logged model, told apart by the shape of its
id (32 hex digits, or ``m-`` and 32 hex digits); each kind keeps its rows in its own table, so
that they go when it goes. Uploads stream into the blob store before any transaction opens, so
a slow client never holds the metadata store's write lock; the row that publishes the file is
written after the bytes are safe. Blobs are content-addressed and may be shared, so replacing
or deleting an artifact removes its row, never the blob.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from corridor.errors import Conflict, NotFound
from corridor.store import sql
from corridor.store.db import Database
from corridor.tracking.artifact_paths import check_artifact_path, join
from corridor.tracking.entities import FileInfo
from corridor.tracking.logged_models import active_model_row, is_logged_model_id, model_row
from corridor.tracking.models import Artifact, LoggedModelArtifact
from corridor.tracking.runs import active_run_row, run_row
from corridor.tracking.validation import now_ms

if TYPE_CHECKING:
    from sqlalchemy import Select

    from corridor.store.blobs import BlobStore
    from corridor.store.blobs.stream_cipher import Plaintext

READ_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class _Tree:
    """One owner's artifact tree: its table, its owner column, and how to find the owner."""

    table: Any  # `Artifact` or `LoggedModelArtifact`
    key: str  # the owner column's name
    owner_id: str
    what: str
    find: Callable[[Session, str], object]  # `NotFound` if the owner does not exist
    writable: Callable[[Session, str], object]  # and `Conflict` if it may not change

    @property
    def owner(self) -> Any:
        return getattr(self.table, self.key)

    @property
    def path(self) -> Any:
        return self.table.path

    def mine(self) -> Any:
        return self.owner == self.owner_id


def _tree(owner_id: str) -> _Tree:
    if is_logged_model_id(owner_id):
        return _Tree(
            LoggedModelArtifact, "model_id", owner_id, "logged model", model_row, active_model_row
        )
    return _Tree(Artifact, "run_id", owner_id, "run", run_row, active_run_row)


def _under(tree: _Tree, prefix: str) -> Any:
    """SQL: the artifact's path starts with ``prefix`` (exactly, whatever the collation)."""
    return func.substr(tree.path, 1, len(prefix)) == prefix


def _check_tree(session: Session, tree: _Tree, path: str) -> None:
    """Refuse a file where a directory is, or below a file."""
    parts = path.split("/")
    ancestors = ["/".join(parts[:i]) for i in range(1, len(parts))]
    clash = session.scalar(
        select(tree.path)
        .where(tree.mine(), or_(tree.path.in_(ancestors), _under(tree, path + "/")))
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
    db: Database, blobs: BlobStore, owner_id: str, path: str, source: Plaintext
) -> FileInfo:
    """Store ``source`` (bytes, a binary file or an iterable of bytes) at ``path`` in the tree
    of run or logged model ``owner_id``.

    Replaces the file at ``path`` if there is one. `InvalidInput` for an unsafe path,
    `Conflict` if the owner is deleted or the path collides with a directory or file.
    """
    check_artifact_path(path)
    tree = _tree(owner_id)
    with db.read() as session:
        tree.writable(session, owner_id)
        _check_tree(session, tree, path)
    counted = _Counted(source)
    digest = blobs.put(counted)
    mtime = now_ms()
    with db.write() as session:
        tree.writable(session, owner_id)
        _check_tree(session, tree, path)
        row = {tree.key: owner_id, "path": path, "digest": digest, "size": counted.size}
        sql.upsert(
            session,
            tree.table.__table__,
            [{**row, "mtime": mtime}],
            key=(tree.key, "path"),
            update=("digest", "size", "mtime"),
        )
    return FileInfo(path=path, is_dir=False, file_size=counted.size, mtime=mtime, digest=digest)


def list_artifacts(session: Session, owner_id: str, directory: str = "") -> list[FileInfo]:
    """The entries directly inside ``directory`` ('' for the top), directories first by name.

    A directory that holds nothing, or a path that names a file, lists as empty (as in MLflow).
    """
    check_artifact_path(directory, allow_root=True)
    tree = _tree(owner_id)
    tree.find(session, owner_id)
    prefix = directory + "/" if directory else ""
    table = tree.table
    query = select(table.path, table.size, table.mtime, table.digest).where(tree.mine())
    if prefix:
        query = query.where(_under(tree, prefix))
    files: list[FileInfo] = []
    dirs: set[str] = set()
    for path, size, mtime, digest in session.execute(query.order_by(table.path)):
        head, slash, _ = path[len(prefix) :].partition("/")
        if slash:
            dirs.add(join(directory, head))
        else:
            files.append(FileInfo(path, False, size, mtime, digest))
    listed = [FileInfo(d, True, None) for d in sorted(dirs)] + files
    return sorted(listed, key=lambda f: f.path)


def stat_artifact(session: Session, owner_id: str, path: str) -> FileInfo:
    """The file at ``path``; `NotFound` if there is none (a directory is not a file)."""
    check_artifact_path(path)
    tree = _tree(owner_id)
    tree.find(session, owner_id)
    table = tree.table
    row = session.execute(
        select(table.size, table.mtime, table.digest).where(tree.mine(), table.path == path)
    ).first()
    if row is None:
        raise NotFound(f"{tree.what} {owner_id} has no artifact file {path!r}")
    return FileInfo(path, False, row[0], row[1], row[2])


def open_artifact(
    session: Session, blobs: BlobStore, owner_id: str, path: str
) -> tuple[FileInfo, BinaryIO]:
    """The file at ``path`` and a reader of its bytes (verified as they are read)."""
    info = stat_artifact(session, owner_id, path)
    assert info.digest is not None
    return info, blobs.open(info.digest)


def delete_artifacts(session: Session, owner_id: str, path: str) -> int:
    """Remove the file at ``path``, or everything under the directory ``path``; return how many."""
    check_artifact_path(path)
    tree = _tree(owner_id)
    tree.writable(session, owner_id)
    count = sql.changed_rows(
        session,
        delete(tree.table).where(tree.mine(), or_(tree.path == path, _under(tree, path + "/"))),
    )
    if count == 0:
        raise NotFound(f"{tree.what} {owner_id} has no artifact {path!r}")
    return count


def referenced_blobs() -> list[Select[tuple[str]]]:
    """The blobs artifact rows hold, whoever owns them (a reference source of the blob sweep)."""
    return [select(Artifact.digest), select(LoggedModelArtifact.digest)]
