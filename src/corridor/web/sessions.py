"""The request's sessions: one read transaction for the guard and the route, and the route's
write transaction, which also stores the request's audit event.

A route that reads declares ``session: ReadSession``; its guard then finds the caller's token,
the project the request acts in and the caller's role in that same session, and the route's
queries follow in the same transaction (on SQLite, the same snapshot). The session is opened
on first use and closed when the handler returns, before the reply is sent, so that a streamed
reply holds no pooled connection. A route that does not read gets the guard's session closed
as the guard finishes, so that its write never waits while holding a read connection too.

A route that writes declares ``session: WriteSession`` in a router built with
``route_class=WriteRoute``. The transaction begins where the handler first uses the session (on
SQLite with ``BEGIN IMMEDIATE``), in the handler's worker thread, so nothing is held while the
guard runs or a body is parsed. As the handler returns, in its thread, the request's success
event is appended in the same transaction and the two commit together, before a byte of the
reply is sent: a client that got its answer can count on both, and a failure before the commit
leaves neither. A handler that raises rolls back; the request middleware then audits the
failure, as it audits everything a route did not.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Annotated, Any, ParamSpec, TypeVar, get_type_hints

import anyio.to_thread
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from corridor.runtime import Runtime
from corridor.security import audit
from corridor.web.request_audit import AUDITED, DETAIL, request_entry

P = ParamSpec("P")
R = TypeVar("R")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def note_audit_detail(request: Request, **values: object) -> None:
    """Add values the route chose (never the caller's free text) to the request's audit event."""
    setattr(request.state, DETAIL, {**getattr(request.state, DETAIL, {}), **values})


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


class WriteRoute(APIRoute):
    """A route whose handler ends its write session in its own worker thread.

    Every router with a ``WriteSession`` route is built with ``route_class=WriteRoute``. The
    handler's thread appends the audit event and commits as soon as the handler returns, so the
    session never holds a connection while the request waits for another worker thread (FastAPI
    validates a reply in one): on SQLite, handlers queued for the one write connection could
    otherwise hold every thread.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        name = _write_session_parameter(endpoint)
        if name is not None:
            endpoint = _ending_in_handler(endpoint, name)
        super().__init__(path, endpoint, **kwargs)


def _write_session_parameter(endpoint: Callable[..., Any]) -> str | None:
    hints = get_type_hints(endpoint, include_extras=True)
    for name, parameter in inspect.signature(endpoint).parameters.items():
        if parameter.default is WRITE_SESSION or hints.get(name) == WriteSession:
            if inspect.iscoroutinefunction(endpoint):
                raise TypeError(f"{endpoint.__qualname__}: a WriteSession needs a sync handler")
            return name
    return None


def _ending_in_handler(endpoint: Callable[P, R], name: str) -> Callable[P, R]:
    @functools.wraps(endpoint)
    def handle(*args: P.args, **kwargs: P.kwargs) -> R:
        session = kwargs[name]
        assert isinstance(session, Session)
        try:
            result = endpoint(*args, **kwargs)
        except BaseException:
            session.close()
            raise
        _end(session)
        return result

    return handle


def _end(session: Session) -> None:
    """Append the request's audit event to ``session``, last, and commit both."""
    request, response = session.info.pop(_REQUEST)
    entry = request_entry(request.scope, _status(request, response))
    try:
        if entry is not None:
            # Last, so that the audit head stays locked (PostgreSQL) for no more than the commit.
            audit.append_in(session, entry)
        session.commit()
    finally:
        session.close()
    if entry is not None:
        setattr(request.state, AUDITED, True)


def _status(request: Request, response: Response) -> int:
    """The status the reply will have: set by the handler, else the route's, else 200."""
    if response.status_code:
        return response.status_code
    route_status = getattr(request.scope.get("route"), "status_code", None)
    return int(route_status or 200)


_REQUEST = "corridor.request"


async def _write_session(request: Request, response: Response) -> AsyncIterator[Session]:
    # Async, so that entering costs no thread hop and the context marking the session as this
    # request's writer is the one the handler's worker thread inherits: a nested
    # ``Database.write()`` in the handler is then refused, not left waiting for the connection.
    with get_runtime(request).db.deferred_write() as session:
        session.info[_REQUEST] = (request, response)
        try:
            yield session
        finally:
            ended = _REQUEST not in session.info
            if session.in_transaction():
                # Not ended by its handler (which raised, or never ran): roll back.
                await anyio.to_thread.run_sync(session.close)
            else:
                session.close()
        if not ended:
            raise RuntimeError(
                f"{request.scope.get('path')}: the route takes a WriteSession but its router "
                "was not built with route_class=WriteRoute, so nothing was committed"
            )


# ``session: WriteSession``, or ``session: Session = WRITE_SESSION`` after parameters with
# defaults, in a route of a router built with ``route_class=WriteRoute``. Its place among the
# parameters does not matter: nothing begins before the handler.
WRITE_SESSION = Depends(_write_session, scope="function")
WriteSession = Annotated[Session, WRITE_SESSION]
