"""The change marker of tokens, users, projects and memberships, and the in-process hook.

Invariant: every commit that changes who may do what (a token issued, revoked or restricted; a
user made admin, disabled or deleted; a project deleted; a role granted, changed or taken away)
bumps the one-row counter ``access_changes`` in the same transaction, and then, once committed,
calls the subscribers of this process (the in-memory token views) before ``commit`` returns.

Other server processes poll the counter (one primary-key read) and reload when it moved, so
the hook costs one UPDATE per such commit and nothing per request. The check runs in the ORM's
``before_flush``, so it cannot be forgotten by a new function that changes these tables through
the ORM; bulk UPDATE/DELETE statements bypass it, and the only ones on these tables touch job
tokens, which no token view admits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, event, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import get_history

from corridor.security.models import AccessChange, Membership, Project, Token, User

log = logging.getLogger(__name__)

_FLAG = "corridor_access_changed"
# Token columns whose change alters what a token may do (not last_used_at, written each minute).
_TOKEN_COLUMNS = ("revoked_at", "expires_at", "invoke_deployment", "user_id", "secret_hash")
_USER_COLUMNS = ("is_admin", "disabled", "name")

Subscriber = Callable[[str], None]
"""Called with the database URL after a commit in this process changed access."""

_subscribers: list[Subscriber] = []

_BUMP = update(AccessChange).where(AccessChange.id == 1).values(counter=AccessChange.counter + 1)
_READ = select(AccessChange.counter).where(AccessChange.id == 1)


def subscribe(subscriber: Subscriber) -> None:
    """Call ``subscriber(database_url)`` after each commit of this process that changed access."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def unsubscribe(subscriber: Subscriber) -> None:
    if subscriber in _subscribers:
        _subscribers.remove(subscriber)


def read_marker(conn: Connection) -> int:
    """The counter's value (0 where the row is missing: a schema made without migrations)."""
    return int(conn.execute(_READ).scalar() or 0)


def _changed(obj: object) -> bool:
    columns: Iterable[str]
    if isinstance(obj, Token):
        if obj.job_id is not None:
            return False  # job tokens never invoke anything
        columns = _TOKEN_COLUMNS
    elif isinstance(obj, User):
        columns = _USER_COLUMNS
    elif isinstance(obj, Membership):
        columns = ("role", "user_id", "project_id")
    else:
        return False
    return any(get_history(obj, name).has_changes() for name in columns)


def _touches_access(session: Session) -> bool:
    for obj in session.deleted:
        if isinstance(obj, (Token, User, Membership, Project)):
            return True
    for obj in session.new:
        if isinstance(obj, (Membership, Project)) or (
            isinstance(obj, Token) and obj.job_id is None
        ):
            return True
    return any(_changed(obj) for obj in session.dirty)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(_FLAG) or not _touches_access(session):
        return
    session.execute(_BUMP)
    session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if not session.info.pop(_FLAG, False):
        return
    bind = session.get_bind()
    url = bind.engine.url.render_as_string(hide_password=False)
    for subscriber in list(_subscribers):
        try:
            subscriber(url)
        except Exception:
            # The change is committed; a view that could not reload catches up by polling.
            log.exception("a token view could not reload after an access change")


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)
