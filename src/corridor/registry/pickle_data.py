"""Recognise pickle data by its bytes, without unpickling anything. Client side only.

A package of a flavour that is not pickle-based (`corridor.registry.flavours`) must hold no
pickle data: a pickle saved under a safe flavour's name would otherwise reach a library that
unpickles it (``torch.load``, ``joblib.load``) or mislead whoever loads it by hand. Two shapes
are recognised, by content, whatever the file is called:

- a pickle of protocol 2 to 5: ``0x80`` (PROTO) and the protocol, then valid pickle opcodes.
  The opcodes are read with `pickletools.genops`, which parses and never executes, so that a
  safetensors file (an 8-byte header length that may start ``0x80 0x02``, then zeros) or random
  bytes are not mistaken for a pickle;
- a zip archive holding a ``.pkl`` member, which is what ``torch.save`` writes
  (``archive/data.pkl``).

Pickles of protocols 0 and 1 have no header and are not recognised.
"""

from __future__ import annotations

import io
import os
import pickletools
import zipfile
from collections.abc import Iterable
from pathlib import Path

from corridor.errors import InvalidInput

PICKLE_PROTOCOLS = frozenset({2, 3, 4, 5})
ZIP_MAGIC = b"PK\x03\x04"
# Enough opcodes that random bytes after a matching header almost never parse by chance (about
# a quarter of byte values are opcodes), and few enough to stop long before a model's payload.
_OPCODES_TO_SEE = 8
_WINDOW_BYTES = 64 * 1024
# Opcodes whose argument is a little-endian length and that many bytes: the width of the length.
_LENGTH_WIDTHS = {b"B": 4, b"X": 4, b"T": 4, b"\x8d": 8, b"\x8e": 8, b"\x96": 8}


def _long_argument_fits(head: bytes, start: int, size: int) -> bool:
    """Whether the opcode at ``start`` declares an argument that runs past ``head`` but fits in
    the file's ``size`` bytes: a real pickle's large bytes or string, where random bytes would
    declare a length the file cannot hold."""
    width = _LENGTH_WIDTHS.get(head[start : start + 1])
    if width is None or len(head) < start + 1 + width:
        return False
    length = int.from_bytes(head[start + 1 : start + 1 + width], "little")
    return start + 1 + width + length <= size


def _parses_as_pickle(head: bytes, size: int) -> bool:
    stream = io.BytesIO(head)
    seen, end = 0, 0
    try:
        for opcode, _arg, _pos in pickletools.genops(stream):
            seen, end = seen + 1, stream.tell()
            if opcode.name == "STOP" or seen >= _OPCODES_TO_SEE:
                return True
    except ValueError:
        # An unknown opcode: not a pickle. Running off the end of the bytes read, inside an
        # argument the rest of the file can hold: a pickle with a large early argument.
        return len(head) < size and _long_argument_fits(head, end, size)
    return False


def _pickle_members(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return [name for name in archive.namelist() if name.endswith(".pkl")]
    except (zipfile.BadZipFile, OSError):
        return []


def pickle_kind(path: Path) -> str | None:
    """What pickle data the file at ``path`` is (``"a protocol 4 pickle"``), or None."""
    with path.open("rb") as f:
        head = f.read(_WINDOW_BYTES)
        size = os.fstat(f.fileno()).st_size
    pickle_header = len(head) >= 2 and head[0] == 0x80 and head[1] in PICKLE_PROTOCOLS
    if pickle_header and _parses_as_pickle(head, size):
        return f"a protocol {head[1]} pickle"
    if head.startswith(ZIP_MAGIC):
        members = _pickle_members(path)
        if members:
            return f"a zip archive holding the pickle {members[0]} (as torch.save writes)"
    return None


def refuse_pickle_files(folder: Path, flavour: str, paths: Iterable[str]) -> None:
    """Refuse, naming the first such file, if any of ``paths`` (relative to ``folder``) is
    pickle data: ``flavour`` is not pickle-based, so its package must hold none."""
    for rel in sorted(paths):
        kind = pickle_kind(folder / rel)
        if kind is not None:
            raise InvalidInput(
                f"{rel} is pickle data ({kind}), but the package's flavour {flavour!r} is not "
                "pickle-based: Corridor does not load it, since unpickling runs code from the "
                "package. Save the model as ONNX, skops or safetensors, or register the pickle "
                "under a pickle-based flavour (sklearn, pickle) in a project whose server "
                "admin allows pickle"
            )
