"""The audit event of a request: which requests have one, and what it says.

Two writers share these rules. A route with a write session appends its success event in that
session, so that the event commits with the route's changes (`corridor.web.sessions`); the
request middleware appends every other event (failures, refusals, writes made without a write
session) after the handler, and skips a request whose route already appended its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.types import Scope

from corridor.security.audit import AuditEntry

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Set in the request's state once the route's own transaction has committed its event.
AUDITED = "audited"
# Set by a route whose successful calls are routine telemetry of something audited already (a
# job worker's heartbeats and log chunks, once a second for the life of a job): only its
# failures and refusals are audited.
ROUTINE = "routine"
# Set by a route to a small dict of values it chose (never the caller's free text) that its
# event should carry beyond the path, e.g. the new value of a security switch.
DETAIL = "audit_detail"


def route_name(scope: Scope) -> str:
    """A stable name for the matched route (``security.create_project``), else the method."""
    endpoint = scope.get("endpoint")
    if endpoint is None:
        return f"{scope['method']} (unrouted)"
    slice_name = endpoint.__module__.removeprefix("corridor.").split(".")[0]
    return f"{slice_name}.{endpoint.__name__}"


def actor(state: Mapping[str, Any]) -> str:
    """Who made the request: the guard's principal, else a name the route noted, else anonymous."""
    principal = state.get("principal")
    return str(principal.name if principal is not None else state.get("actor", "anonymous"))


def _outcome(status: int, denied: bool) -> str:
    if denied or status in (401, 403):
        return "denied"
    if status < 400:
        return "success"
    return "failed" if status < 500 else "error"


def request_entry(scope: Scope, status: int) -> AuditEntry | None:
    """The event of a request answered with ``status``; None for a read that succeeded."""
    state = scope["state"]
    method = scope["method"]
    denied = "denied" in state
    if method not in MUTATING and not denied and status not in (401, 403):
        return None
    if state.get(ROUTINE) and not denied and status < 400:
        return None
    detail: dict[str, object] = {"method": method, "status": status}
    # An error message may quote the caller's data (a cell that does not parse): the audit
    # log, kept in plain text, takes messages only from refusals, which quote none.
    reason = state.get("denied") or (state.get("error") if status in (401, 403) else None)
    if reason:
        detail["reason"] = reason
    for key, value in (state.get(DETAIL) or {}).items():
        detail.setdefault(key, value)
    return AuditEntry(
        actor=actor(state),
        action=route_name(scope),
        target=scope["path"],
        outcome=_outcome(status, denied),
        request_id=state["request_id"],
        detail=detail,
    )
