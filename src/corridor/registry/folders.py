"""Gather the files of a folder for a package, refusing links out of it. No blob store.

Used on both sides: the client walks a folder before uploading it, the server-side
`corridor.registry.package_store` before storing it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from corridor.errors import InvalidInput
from corridor.registry.manifest import check_package_path


def collect_files(root: Path) -> list[tuple[str, Path]]:
    """The files under ``root`` (or ``root`` itself, if a file), by package path, sorted.

    A symbolic link is followed only to a file inside ``root``; one that leaves ``root``, or
    names a folder, is refused, as is anything that is not a regular file.
    """
    if root.is_file():
        return [(check_package_path(root.name), root)]
    if not root.is_dir():
        raise InvalidInput(f"{root} is neither a file nor a folder")
    base = root.resolve()
    found: list[tuple[str, Path]] = []
    _walk(base, base, "", found)
    if not found:
        raise InvalidInput(f"{root} holds no files to package")
    return sorted(found)


def _walk(base: Path, folder: Path, prefix: str, found: list[tuple[str, Path]]) -> None:
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            rel = f"{prefix}{entry.name}"
            path = Path(entry.path)
            if entry.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(base):
                    raise InvalidInput(
                        f"{rel} is a link to {target}, outside the folder being packaged; "
                        "copy the file in instead"
                    )
                if not target.is_file():
                    raise InvalidInput(f"{rel} is a link to a folder; package the folder itself")
                found.append((check_package_path(rel), target))
            elif entry.is_dir(follow_symlinks=False):
                _walk(base, path, f"{rel}/", found)
            elif stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                found.append((check_package_path(rel), path))
            else:
                raise InvalidInput(f"{rel} is not a regular file (a pipe, socket or device)")
