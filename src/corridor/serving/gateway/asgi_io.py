"""Raw ASGI in and out for the gateway: the request's head, its body under a cap, one response.

Invariant: a body larger than the cap is never held in memory: a ``content-length`` over it is
refused before a byte is read, and a chunked body is refused at the chunk that passes it.

Cost: the hot path reads a request as one ``http.request`` message (uvicorn delivers small
bodies whole) without copying it, and sends a response as two messages with its length set,
so the server neither chunks nor buffers it. Headers are decoded only for the names the
gateway reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Message, Receive, Scope, Send

from corridor.errors import InvalidInput, PayloadTooLarge

JSON = b"application/json"


class ClientGone(Exception):
    """The client disconnected before its request's body arrived; nothing is answered."""


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs twice as much
class RequestHead:
    """The request headers the gateway reads (lower-case names, latin-1 values)."""

    authorization: str | None
    content_length: int | None
    header_length: str | None  # Inference-Header-Content-Length, as sent
    request_id: str | None
    headers: dict[bytes, bytes]

    def get(self, name: str) -> str | None:
        value = self.headers.get(name.lower().encode("latin-1"))
        return value.decode("latin-1") if value is not None else None


def read_head(scope: Scope) -> RequestHead:
    headers: dict[bytes, bytes] = dict(scope["headers"])
    auth = headers.get(b"authorization")
    length = headers.get(b"content-length")
    binary = headers.get(b"inference-header-content-length")
    rid = headers.get(b"x-request-id")
    content_length: int | None = None
    if length is not None:
        try:
            content_length = int(length)
        except ValueError:
            raise InvalidInput("the Content-Length header is not a number") from None
    return RequestHead(
        authorization=auth.decode("latin-1") if auth is not None else None,
        content_length=content_length,
        header_length=binary.decode("latin-1") if binary is not None else None,
        request_id=rid.decode("latin-1") if rid is not None else None,
        headers=headers,
    )


async def read_body(head: RequestHead, receive: Receive, limit: int) -> bytes | bytearray:
    """The whole body; `PayloadTooLarge` past ``limit`` bytes, `ClientGone` on a disconnect."""
    if head.content_length is not None and head.content_length > limit:
        raise PayloadTooLarge(
            f"the request body is {head.content_length} bytes, over the gateway's limit of "
            f"{limit} bytes (serving_max_request_bytes); send fewer rows per request"
        )
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone()
    first: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        _check(len(first), limit)
        return first
    body = bytearray(first)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        body += message.get("body", b"")
        _check(len(body), limit)
        if not message.get("more_body", False):
            return body


def _check(size: int, limit: int) -> None:
    if size > limit:
        raise PayloadTooLarge(
            f"the request body passed the gateway's limit of {limit} bytes "
            "(serving_max_request_bytes); send fewer rows per request"
        )


async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send one complete response."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    start: Message = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
