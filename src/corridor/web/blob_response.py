"""One streamed reply for a blob: the bytes go out chunk by chunk and the reader is closed after.

Every download route (run artifacts, MLflow artifacts, package files, dataset versions) answers
the same way: a verified blob reader, its plaintext size as `content-length`, and whatever
identifying headers the route adds. Keeping that in one place means the closing rule (the reader
is closed even when the client goes away mid-reply) is written once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import BinaryIO

from fastapi.responses import StreamingResponse

OCTET_STREAM = "application/octet-stream"
CHUNK_BYTES = 1 << 20


def read_chunks(reader: BinaryIO, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Yield ``reader`` in ``size``-byte chunks, closing it at the end (for streamed replies)."""
    try:
        while chunk := reader.read(size):
            yield chunk
    finally:
        reader.close()


def blob_response(
    reader: BinaryIO,
    size_bytes: int | None,
    *,
    media_type: str = OCTET_STREAM,
    headers: Mapping[str, str] | None = None,
) -> StreamingResponse:
    """Stream ``reader`` (``size_bytes`` long) as the reply body, with ``headers`` added.

    A size of None sends the body chunked (an artifact `FileInfo` types its size as optional).
    """
    sized = {} if size_bytes is None else {"content-length": str(size_bytes)}
    return StreamingResponse(
        read_chunks(reader), media_type=media_type, headers={**sized, **(headers or {})}
    )
