"""Who may call a deployment, and how often: the gateway's checks, from memory only.

Authentication and authorization read the runtime's `TokenView` (never the database; see
`corridor.security.token_view` for how fresh it is); rate limits are token buckets per
deployment, keyed by token. Every check is a few dict lookups.

Order, so that nothing leaks: no or bad token -> 401 before anything is looked up; a
deployment that is missing, or in a project the caller cannot see -> the same 404; one the
caller can see but not invoke (a viewer, a token made for another deployment) -> 403; over its
rate limit -> 429 with the seconds to wait.
"""

from __future__ import annotations

import math
import time
from typing import Any

from corridor.errors import NotFound, TooManyRequests, Unauthenticated
from corridor.runtime import Runtime
from corridor.security.token_view import TokenEntry, TokenView, view_for
from corridor.serving.plane import DeploymentHandle
from corridor.serving.sansio.rate_limit import RateLimiter
from corridor.serving.spec import RateLimit

# The operator of an in-process client: whoever reads the home holds the keys anyway.
LOCAL_ADMIN = TokenEntry(
    token_id="local-admin",  # noqa: S106 (a name, not a secret)
    user_id="",
    user_name="local-admin",
    is_admin=True,
    disabled=False,
    expires_at_s=None,
    revoked=False,
    invoke_deployment=None,
)


class RetryLater(TooManyRequests):
    """A rate limit was reached; ``retry_after_s`` says when one request may pass again."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def retry_after_header(self) -> bytes:
        return str(max(1, math.ceil(self.retry_after_s))).encode()


def rate_limit_of(handle: DeploymentHandle) -> RateLimit | None:
    """The deployment's per-token rate limit (None: off)."""
    limit: Any = getattr(handle, "rate_limit", None)
    if limit is None:
        spec = getattr(handle, "spec", None)
        limit = getattr(spec, "rate_limit", None)
    return limit if isinstance(limit, RateLimit) else None


class Access:
    """The gateway's access checks over one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.view: TokenView = view_for(runtime)
        self.local_admin = runtime.local_admin
        # deployment -> (its RateLimit, the limiter built from it); rebuilt when it changes.
        self._limiters: dict[str, tuple[RateLimit, RateLimiter]] = {}

    def authenticate(self, authorization: str | None) -> TokenEntry:
        if authorization is None:
            if self.local_admin:
                return LOCAL_ADMIN
            raise Unauthenticated("this needs a token: send 'Authorization: Bearer <token>'")
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        return self.view.authenticate(value)

    def readable(
        self, entry: TokenEntry, handle: DeploymentHandle | None, name: str
    ) -> DeploymentHandle:
        """``handle`` if the caller may read its metadata; `NotFound` (the same as a missing
        one) if it cannot see its project, `PermissionDenied` for a token made for another."""
        if handle is None:
            raise NotFound(f"model {name!r} not found")
        self.view.check_read(entry, name, handle.project_id)
        return handle

    def check_invoke(self, entry: TokenEntry, handle: DeploymentHandle | None, name: str) -> None:
        """Raise unless the caller may invoke ``handle`` now (see the module's order)."""
        if handle is None:
            raise NotFound(f"model {name!r} not found")
        self.view.check_invoke(entry, handle.name, handle.project_id)
        spec = rate_limit_of(handle)
        if spec is None:
            return
        held = self._limiters.get(handle.name)
        if held is None or held[0] != spec:
            held = self._limiters[handle.name] = (spec, RateLimiter.from_spec(spec))
        limiter = held[1]
        now = time.monotonic()
        if not limiter.allow(entry.token_id, now):
            wait = limiter.retry_after_s(entry.token_id, now)
            raise RetryLater(
                f"deployment {handle.name!r} allows {spec.requests_per_s:g} requests per second "
                f"per token; retry in {wait:.2f} s",
                wait,
            )
