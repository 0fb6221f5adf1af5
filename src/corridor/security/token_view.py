"""An in-memory view of the tokens and roles that may invoke deployments.

The serving gateway authenticates and authorizes each inference request from this view, never
from the database: one SHA-256 of the secret and two dict lookups (about 2 µs in all). The view
is plain dicts replaced whole on reload, so a reader never sees half a reload and needs no
lock.

Freshness, and so the revocation bound:
- a commit in this process that changes access (`corridor.security.access_changes`) reloads
  every view over the same database before ``commit`` returns: a revoke through this server's
  API is refused by this server's gateway by the time the API has answered;
- every ``POLL_INTERVAL_S`` (0.5 s) a view reads the one-row change counter (a primary-key
  read) and reloads when it moved: a change made through another server process is refused
  here within 0.5 s plus one reload (about 10 ms per thousand live tokens, measured on a busy
  two-core machine), under 1 s for up to some 40,000 live tokens.
Expiry needs no reload: each lookup compares the token's expiry with the clock.

A reload reads every live user token (job tokens never invoke; tokens revoked or expired more
than a day ago are left out and answer "unknown token"), every membership and every project's
name, in one read transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import weakref
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import or_, select

from corridor.errors import NotFound, PermissionDenied, Unauthenticated
from corridor.runtime import Runtime
from corridor.security import access_changes
from corridor.security.credentials import hash_token, looks_like_token
from corridor.security.models import Membership, Project, Token, User
from corridor.security.policy import Permission, Role, role_allows
from corridor.store.base import utcnow
from corridor.store.db import Database

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5
# Tokens revoked or expired longer ago than this are left out of the view ("unknown token").
_KEEP_ENDED = dt.timedelta(days=1)


@dataclass(slots=True)  # not frozen: built 10,000s of times a reload, and frozen costs 2x
class TokenEntry:
    """One user token as the gateway needs it."""

    token_id: str
    user_id: str
    user_name: str
    is_admin: bool
    disabled: bool
    expires_at_s: float | None  # unix time; None: never
    revoked: bool
    # Set on a token made for an application: the one deployment it may invoke.
    invoke_deployment: str | None
    # Set on a pipeline run's token (its project's id): it invokes nothing.
    project_scope: str | None = None


class TokenView:
    """Tokens by secret hash and roles by user and project, of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.url = db.write_engine.url.render_as_string(hide_password=False)
        self.tokens: dict[str, TokenEntry] = {}
        self.roles: dict[str, dict[str, Role]] = {}
        self.projects: dict[str, str] = {}  # id -> name
        self.marker = -1  # the change counter the view was loaded at; -1: never loaded
        self._poller: asyncio.Task[None] | None = None

    @property
    def loaded(self) -> bool:
        return self.marker >= 0

    # Loading (blocking: call from a thread, or at start).

    def load(self) -> None:
        """Read every live user token and membership in one read transaction, then swap."""
        ended = utcnow() - _KEEP_ENDED
        with self.db.read_connection() as conn, conn.begin():
            marker = access_changes.read_marker(conn)
            rows = conn.execute(
                select(
                    Token.secret_hash,
                    Token.id,
                    Token.expires_at,
                    Token.revoked_at,
                    Token.invoke_deployment,
                    Token.project_scope,
                    User.id,
                    User.name,
                    User.is_admin,
                    User.disabled,
                )
                .join(User, User.id == Token.user_id)
                .where(
                    Token.job_id.is_(None),
                    or_(Token.revoked_at.is_(None), Token.revoked_at > ended),
                    or_(Token.expires_at.is_(None), Token.expires_at > ended),
                )
            ).all()
            members = conn.execute(
                select(Membership.user_id, Membership.project_id, Membership.role)
            ).all()
            projects = {pid: name for pid, name in conn.execute(select(Project.id, Project.name))}
        tokens = {
            digest: TokenEntry(
                token_id=token_id,
                user_id=user_id,
                user_name=name,
                is_admin=bool(is_admin),
                disabled=bool(disabled),
                expires_at_s=_epoch(expires_at),
                revoked=revoked_at is not None,
                invoke_deployment=invoke,
                project_scope=scope,
            )
            for (
                digest,
                token_id,
                expires_at,
                revoked_at,
                invoke,
                scope,
                user_id,
                name,
                is_admin,
                disabled,
            ) in rows
        }
        roles: dict[str, dict[str, Role]] = {}
        for user_id, project_id, role in members:
            roles.setdefault(user_id, {})[project_id] = Role(role)
        self.tokens, self.roles, self.projects = tokens, roles, projects
        self.marker = marker

    def refresh_if_changed(self) -> bool:
        """Reload if the change counter moved since the last load; whether it did."""
        with self.db.read_connection() as conn:
            marker = access_changes.read_marker(conn)
        if marker == self.marker:
            return False
        self.load()
        return True

    def _on_change(self, url: str) -> None:
        if url == self.url:
            self.load()

    # Polling, on the server's event loop.

    async def start(self) -> None:
        """Load (off the loop) and poll for other processes' changes until `stop`."""
        access_changes.subscribe(self._on_change)
        if not self.loaded:
            await anyio.to_thread.run_sync(self.load)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        access_changes.unsubscribe(self._on_change)
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            try:
                await anyio.to_thread.run_sync(self.refresh_if_changed)
            except Exception:
                # A database that does not answer keeps the last view (tokens already revoked
                # stay refused; new ones wait): better than refusing every request.
                log.warning("token view refresh failed; keeping the last view", exc_info=True)

    # The hot path.

    def authenticate(self, secret: str) -> TokenEntry:
        """The token ``secret`` stands for, or `Unauthenticated` saying why not."""
        if not looks_like_token(secret):
            raise Unauthenticated("the bearer credential is not a Corridor token")
        entry = self.tokens.get(hash_token(secret))
        if entry is None:
            raise Unauthenticated("unknown token")
        if entry.revoked:
            raise Unauthenticated("this token was revoked")
        if entry.expires_at_s is not None and entry.expires_at_s <= time.time():
            raise Unauthenticated("this token has expired: create a new one")
        if entry.disabled:
            raise Unauthenticated(f"user {entry.user_name!r} is disabled")
        if entry.project_scope is not None:
            raise PermissionDenied(
                "this token is a pipeline run's: it cannot invoke deployments; use a token "
                "made to invoke (corridor tokens create NAME --invoke DEPLOYMENT)"
            )
        return entry

    def can_see(self, entry: TokenEntry, project_id: str) -> bool:
        """Whether the token's owner may know what project ``project_id`` holds."""
        return entry.is_admin or project_id in self.roles.get(entry.user_id, ())

    def check_read(self, entry: TokenEntry, deployment: str, project_id: str) -> None:
        """Raise unless ``entry`` may read ``deployment``'s metadata and readiness (any role
        in its project, or a token made for it while its owner has one)."""
        if not self.can_see(entry, project_id):
            raise NotFound(f"model {deployment!r} not found")
        _check_limited(entry, deployment)

    def check_invoke(self, entry: TokenEntry, deployment: str, project_id: str) -> None:
        """Raise unless ``entry`` may invoke ``deployment`` of project ``project_id``.

        A caller who cannot see the project hears `NotFound`, as for a missing deployment;
        one who can, but whose role (or token) does not allow invoking, `PermissionDenied`.
        """
        role = self.roles.get(entry.user_id, {}).get(project_id)
        if not entry.is_admin and role is None:
            raise NotFound(f"model {deployment!r} not found")
        _check_limited(entry, deployment)
        if not entry.is_admin and not role_allows(role, Permission.DEPLOYMENT_INVOKE):
            raise PermissionDenied(
                f"your role in the project of {deployment!r} is {role}; invoking needs the "
                "editor or admin role there (a token made to invoke it still needs its owner "
                "to hold one)"
            )


def _check_limited(entry: TokenEntry, deployment: str) -> None:
    limited = entry.invoke_deployment
    if limited is not None and limited != deployment:
        raise PermissionDenied(
            f"this token may invoke only deployment {limited!r}, not {deployment!r}"
        )


def _epoch(value: dt.datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


_VIEWS: weakref.WeakKeyDictionary[Runtime, TokenView] = weakref.WeakKeyDictionary()


def view_for(runtime: Runtime) -> TokenView:
    """The token view of ``runtime``'s database, made on first use (not yet loaded)."""
    view = _VIEWS.get(runtime)
    if view is None:
        view = _VIEWS[runtime] = TokenView(runtime.db)
    return view
