"""The Open Inference Protocol v2 routes: health, server and model metadata, readiness, infer.

Routes are matched by splitting the path once (``/v2/models/{m}[/versions/{v}]/{ready|infer}``),
not by a router: the table is fixed and small, and a split costs less than one regex match.

Health (``/v2/health/live``, ``/v2/health/ready``) and server metadata (``/v2``) are public,
for probes and clients' discovery; everything about a model needs a token (see `access`). The
gateway owns ``/v2``: an unknown path under it is answered 404 in OIP's shape.

The infer route's cost is the protocol's parse and encode, the in-memory access checks and the
deployment's own work: no database, no audit write, no pydantic.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from typing import TYPE_CHECKING

import anyio.to_thread

from corridor import __version__
from corridor.errors import CorridorError, InvalidInput, NotFound
from corridor.serving.gateway.asgi_io import read_body, read_head
from corridor.serving.gateway.reply import Reply, Served
from corridor.serving.plane import DeploymentHandle, InferenceContext
from corridor.serving.protocol.oip import parse_infer_request, select_outputs
from corridor.serving.protocol.oip_response import (
    encode_infer_response,
    encode_json,
    error_body,
    server_metadata,
)

if TYPE_CHECKING:
    from starlette.types import Receive, Scope

    from corridor.serving.gateway.app import Gateway

_LIVE = encode_json({"live": True})
_READY = encode_json({"ready": True})
_NOT_READY = encode_json({"ready": False})
_SERVER_METADATA = server_metadata(__version__)
# Bodies from this size on are parsed off the event loop (a 64-float request is about 1.3 KB).
OFF_LOOP_BYTES = 256 * 1024
# Request ids: cheap, unique in this process and across processes of one host.
_IDS = itertools.count(1)
_ID_PREFIX = f"{os.getpid():x}-"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def new_request_id() -> str:
    """A request id for a request that sent none (no uuid: this runs on every request)."""
    return f"{_ID_PREFIX}{next(_IDS):x}"


def request_id(sent: str | None) -> str:
    """The client's ``X-Request-Id`` if it is a plausible id (as the server's middleware
    accepts them), else a new one: ids reach logs and sampled records."""
    if sent is not None and _REQUEST_ID.fullmatch(sent):
        return sent
    return new_request_id()


class MethodNotAllowed(CorridorError):
    status_code = 405
    code = "method_not_allowed"


def _method(scope: Scope, wanted: str) -> None:
    if scope["method"] != wanted:
        raise MethodNotAllowed(f"{scope['path']} answers {wanted} only")


def _version_number(handle: DeploymentHandle, version: str) -> int:
    if version not in handle.versions:
        served = ", ".join(handle.versions) or "none"
        raise NotFound(f"model {handle.name!r} has no version {version!r}; it serves {served}")
    return int(version)


async def route(gateway: Gateway, scope: Scope, receive: Receive, served: Served) -> Reply:
    """Answer one request under ``/v2``."""
    parts = scope["path"].rstrip("/").split("/")  # ["", "v2", ...]
    count = len(parts)
    if count == 2:
        _method(scope, "GET")
        return Reply(200, _SERVER_METADATA)
    if parts[2] == "health" and count == 4:
        _method(scope, "GET")
        if parts[3] == "live":
            return Reply(200, _LIVE)
        if parts[3] == "ready":
            return Reply(200, _READY) if gateway.access.view.loaded else Reply(503, _NOT_READY)
    if parts[2] != "models" or count < 4:
        raise NotFound(f"no route {scope['path']}: see /v2/models/{{name}}/infer")
    name = parts[3]
    version: str | None = None
    if count >= 6 and parts[4] == "versions":
        version = parts[5]
        rest = parts[6:]
    else:
        rest = parts[4:]
    if len(rest) > 1 or (rest and rest[0] not in ("ready", "infer")):
        raise NotFound(f"no route {scope['path']}: see /v2/models/{{name}}/infer")
    action = rest[0] if rest else ""
    if action == "infer":
        served.deployment = name  # counted in the metrics (metadata and probes are not)
    head = read_head(scope)
    entry = gateway.access.authenticate(head.authorization)
    handle = gateway.plane.get(name)
    if action == "infer":
        _method(scope, "POST")
        gateway.access.check_invoke(entry, handle, name)
        assert handle is not None
        number = _version_number(handle, version) if version is not None else None
        if version is not None:
            served.version = version  # a version it serves: a bounded label
        body = await read_body(head, receive, gateway.limits.max_bytes)
        header_length = _header_length(head.header_length)
        if len(body) < OFF_LOOP_BYTES:
            request = parse_infer_request(body, header_length, limits=gateway.limits)
        else:
            # A large body takes milliseconds to parse: a worker thread lets the event loop
            # keep answering other requests meanwhile (the interpreter switches threads).
            parse = functools.partial(parse_infer_request, limits=gateway.limits)
            request = await anyio.to_thread.run_sync(parse, body, header_length)
        sticky = head.get(handle.sticky_header) if handle.sticky_header else None
        context = InferenceContext(
            request_id=request_id(head.request_id),
            token_id=entry.token_id,
            sticky_key=sticky,
            parameters=request.parameters or None,
            version=number,
        )
        outputs = await handle.infer(request.batch(), context)
        chosen, binary = select_outputs(request, outputs)
        data, headers = encode_infer_response(name, version, request.id, chosen, binary=binary)
        length = headers.get("inference-header-content-length")
        extra = [(b"inference-header-content-length", length.encode())] if length else None
        return Reply(200, data, headers["content-type"].encode(), extra)
    _method(scope, "GET")
    handle = gateway.access.readable(entry, handle, name)
    number = _version_number(handle, version) if version is not None else None
    if action == "ready":
        if handle.ready(number):
            return Reply(200, encode_json({"name": name, "ready": True}))
        return Reply(503, error_body(f"model {name!r} is not ready: no replica is up yet"))
    return Reply(200, encode_json(handle.metadata(number)))


def _header_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(
            f"Inference-Header-Content-Length is {value!r}, not a number of bytes"
        ) from None
