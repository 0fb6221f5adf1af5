"""What a gateway route answers, and the request facts every route reads.

A route returns a `Reply` (or raises a `CorridorError`); the gateway sends it, counts it and,
for an error, writes it in the shape of the surface asked (OIP's ``{"error": ...}`` or
OpenAI's). Keeping the send in one place keeps each route a plain function of its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from corridor.serving.gateway.asgi_io import JSON


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] | None = None


@dataclass(slots=True)
class Served:
    """What the route found out, for the metrics: the deployment and version asked for."""

    deployment: str | None = None
    version: str = ""
