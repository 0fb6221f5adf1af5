"""The one rule for artifact paths: relative, normalised, and unable to name anything else.

Artifacts live in the blob store, never on the server's file system, but a path still travels:
it is joined to folders when a client downloads a tree, shown in UIs, and passed to MLflow
clients. So a path is refused outright, not repaired, if it could mean anything but itself:
all-dots segments (``..``, ``.``), percent-escapes (an encoded ``..`` decodes later, somewhere
else), absolute paths, schemes (``file://``), drive letters, backslashes, ``;``, ``?``, ``#``,
control characters and empty segments. No I/O.
"""

from __future__ import annotations

import re
import unicodedata

from corridor.errors import InvalidInput
from corridor.tracking.validation import MAX_ARTIFACT_PATH_BYTES

MAX_SEGMENT_BYTES = 255
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_FORBIDDEN = {"\\": "a backslash", ";": "';'", "?": "'?'", "#": "'#'", "\x00": "a NUL byte"}


def _refuse(path: str, why: str) -> InvalidInput:
    shown = path if len(path) <= 200 else path[:200] + "..."
    return InvalidInput(f"artifact path {shown!r} is refused: {why}")


def check_artifact_path(path: str, *, allow_root: bool = False) -> str:
    """Return ``path`` if it is a safe artifact path; raise `InvalidInput` saying why not.

    ``allow_root`` admits the empty path, meaning the top of a run's tree (for listings).
    """
    if not isinstance(path, str):
        raise InvalidInput("artifact path must be a string")
    if path == "":
        if allow_root:
            return path
        raise _refuse(path, "it is empty; name a file such as 'model/weights.bin'")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_ARTIFACT_PATH_BYTES:
        raise _refuse(path, f"it is longer than {MAX_ARTIFACT_PATH_BYTES} bytes")
    for char, name in _FORBIDDEN.items():
        if char in path:
            raise _refuse(path, f"it contains {name}")
    control = next(
        (c for c in path if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")), None
    )
    if control is not None:
        raise _refuse(path, f"it contains the control or format character {control!r}")
    if _PERCENT_ESCAPE.search(path):
        raise _refuse(path, "it contains a percent-escape; send the decoded name instead")
    if path.startswith("/"):
        raise _refuse(path, "it is absolute; artifact paths are relative to the run")
    first = path.split("/", 1)[0]
    if ":" in first:
        raise _refuse(path, "it starts with a scheme or drive letter (':' in the first segment)")
    for segment in path.split("/"):
        if segment == "":
            raise _refuse(path, "it has an empty segment ('//' or a trailing '/')")
        if set(segment) == {"."}:
            # "..." too: some file systems strip trailing dots, turning it into "..".
            raise _refuse(path, f"it has a {segment!r} segment")
        if segment.strip() == "" or segment != segment.strip(" "):
            raise _refuse(path, "a segment starts or ends with a space")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise _refuse(path, f"a segment is longer than {MAX_SEGMENT_BYTES} bytes")
    if unicodedata.normalize("NFC", path) != path:
        raise _refuse(path, "it is not in Unicode normal form C")
    return path


def join(directory: str, name: str) -> str:
    """Join a checked directory (possibly the root) and a checked relative path."""
    return f"{directory}/{name}" if directory else name


def parent(path: str) -> str:
    """The directory holding ``path`` ('' for a top-level entry)."""
    return path.rpartition("/")[0]
