"""Which file format and compression an input has, from what the caller says, its name, or its
first bytes (in that order of trust)."""

from __future__ import annotations

from enum import StrEnum

from corridor.errors import InvalidInput


class Format(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    JSONL = "jsonl"
    IPC = "ipc"  # Arrow IPC, file ("Feather v2") or stream


class Compression(StrEnum):
    GZIP = "gzip"
    ZSTD = "zstd"
    BZ2 = "bz2"


_MAGIC: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b", Compression.GZIP),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
    (b"BZh", Compression.BZ2),
)
_COMPRESSION_SUFFIXES = {
    ".gz": Compression.GZIP,
    ".gzip": Compression.GZIP,
    ".zst": Compression.ZSTD,
    ".zstd": Compression.ZSTD,
    ".bz2": Compression.BZ2,
}
_FORMAT_SUFFIXES = {
    ".csv": Format.CSV,
    ".tsv": Format.CSV,
    ".txt": Format.CSV,
    ".parquet": Format.PARQUET,
    ".pq": Format.PARQUET,
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
    ".arrow": Format.IPC,
    ".ipc": Format.IPC,
    ".feather": Format.IPC,
    ".arrows": Format.IPC,
}
PARQUET_MAGIC = b"PAR1"
IPC_FILE_MAGIC = b"ARROW1"
# An IPC stream starts with a message whose length is preceded by this continuation marker.
IPC_STREAM_MARKER = b"\xff\xff\xff\xff"
HEAD_BYTES = 8
# Well-known binary files people name .csv or .txt by mistake, by their first bytes.
_BINARY_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one; export it as CSV)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Office document (export it as CSV)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x93NUMPY", "a NumPy array"),
    (b"RIFF", "a RIFF file (audio or video)"),
)


def parse_format(text: str) -> Format:
    try:
        return Format(text.lower())
    except ValueError:
        known = ", ".join(f.value for f in Format)
        raise InvalidInput(f"format {text!r} is not one of {known}") from None


def compression_from_head(head: bytes) -> Compression | None:
    """The compression whose magic number ``head`` starts with, if any."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def _suffixes(name: str) -> list[str]:
    base = name.replace("\\", "/").rpartition("/")[2].lower()
    return ["." + s for s in base.split(".")[1:]]


def format_from_name(name: str) -> Format | None:
    """The format a file name's extension names (``orders.csv.gz`` → csv), if any."""
    suffixes = [s for s in _suffixes(name) if s not in _COMPRESSION_SUFFIXES]
    return _FORMAT_SUFFIXES.get(suffixes[-1]) if suffixes else None


def format_from_head(head: bytes) -> Format:
    """Guess the format of uncompressed bytes: Parquet and Arrow by magic, JSON by '{', else CSV."""
    if head.startswith(PARQUET_MAGIC):
        return Format.PARQUET
    if head.startswith(IPC_FILE_MAGIC) or head.startswith(IPC_STREAM_MARKER):
        return Format.IPC
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return Format.JSONL
    return Format.CSV


def detect_format(explicit: Format | None, name: str, head: bytes) -> tuple[Format, str]:
    """The format to read, and how it was decided (``given``, ``file name`` or ``content``)."""
    if explicit is not None:
        return explicit, "given"
    by_name = format_from_name(name)
    if by_name is not None:
        return by_name, "file name"
    return format_from_head(head), "content"


def binary_kind(head: bytes) -> str | None:
    """What well-known binary file ``head`` starts like (``"a PNG image"``), if any."""
    for magic, kind in _BINARY_KINDS:
        if head.startswith(magic):
            return kind
    return None


def is_ipc_file(head: bytes) -> bool:
    return head.startswith(IPC_FILE_MAGIC)
