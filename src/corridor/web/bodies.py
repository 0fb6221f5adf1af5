"""A streamed request body handed to the worker thread that stores it.

The blob store and the metadata store are synchronous, so uploads run in a worker thread; the
body still arrives on the event loop. This bridge pulls it chunk by chunk, so a body of any size
passes through without being buffered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio.from_thread


async def _next(chunks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return None


def blocking_chunks(body: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The non-empty chunks of ``body``, read from a worker thread (``anyio.to_thread``)."""
    while (chunk := anyio.from_thread.run(_next, body)) is not None:
        if chunk:
            yield chunk
