"""The request's read session: one read transaction for the guard and the route.

A route that reads declares ``session: ReadSession``; its guard then finds the caller's token,
the project the request acts in and the caller's role in that same session, and the route's
queries follow in the same transaction (on SQLite, the same snapshot). The session is opened
on first use and closed when the handler returns, before the reply is sent, so that a streamed
reply holds no pooled connection. A route that does not read gets the guard's session closed
as the guard finishes, so that its write never waits while holding a read connection too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from corridor.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


class RequestReads:
    """A read session opened on first use; ``wanted`` once the route itself asked for it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.wanted = False
        self._opened: AbstractContextManager[Session] | None = None
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._opened = self.runtime.db.read()
            self._session = self._opened.__enter__()
        return self._session

    @property
    def is_open(self) -> bool:
        return self._opened is not None

    def close(self) -> None:
        opened, self._opened, self._session = self._opened, None, None
        if opened is not None:
            opened.__exit__(None, None, None)

    def release_unless_wanted(self) -> None:
        """Close the session if the route will not read in it (called as the guard ends)."""
        if not self.wanted:
            self.close()


async def request_reads(request: Request) -> AsyncIterator[RequestReads]:
    # Async, so that the common case (nothing opened, or one close) costs no extra thread hop.
    reads = RequestReads(get_runtime(request))
    try:
        yield reads
    finally:
        if reads.is_open:
            await anyio.to_thread.run_sync(reads.close)


# One object, so that the guard and the route resolve the same cached dependency.
REQUEST_READS = Depends(request_reads, scope="function")


async def _read_session(reads: RequestReads = REQUEST_READS) -> Session:
    reads.wanted = True
    # No I/O here: the session connects on its first query, in the handler's thread.
    return reads.session


# ``session: ReadSession``, or ``session: Session = READ_SESSION`` after parameters with defaults.
# Declare it before the guard's parameter, so that the guard knows the route reads.
READ_SESSION = Depends(_read_session)
ReadSession = Annotated[Session, READ_SESSION]
