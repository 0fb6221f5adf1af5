"""Users and API tokens: creating them, listing them, and turning a credential into a principal."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from corridor.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from corridor.names import check_name
from corridor.security import access_changes as access_changes  # registers the change hooks
from corridor.security.credentials import (
    hash_password,
    hash_token,
    looks_like_token,
    new_token_secret,
    verify_password,
)
from corridor.security.models import Token, User
from corridor.security.policy import Principal
from corridor.store.base import utcnow
from corridor.store.db import Database

MIN_PASSWORD_LENGTH = 12
# Recording every use would turn each read request into a write; a minute's precision is enough.
_LAST_USED_RESOLUTION = dt.timedelta(seconds=60)
# Every request runs it: built once, read as plain columns on a Core connection, no ORM objects.
_TOKEN_LOOKUP = (
    select(
        Token.id,
        Token.expires_at,
        Token.revoked_at,
        Token.last_used_at,
        Token.job_id,
        Token.job_attempt,
        Token.invoke_deployment,
        Token.project_scope,
        User.id.label("user_id"),
        User.name,
        User.is_admin,
        User.disabled,
    )
    # Outer: a job token has no user.
    .outerjoin(User, User.id == Token.user_id)
    .where(Token.secret_hash == bindparam("digest"))
)


@dataclass(frozen=True)
class IssuedToken:
    """A token as created: ``secret`` is shown this once and never stored."""

    token: Token
    secret: str


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


def create_user(
    session: Session, name: str, *, password: str | None = None, is_admin: bool = False
) -> User:
    check_name("user", name)
    if password is not None:
        _check_password(password)
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise AlreadyExists(f"user {name!r} exists already")
    user = User(
        name=name,
        password_hash=hash_password(password) if password is not None else None,
        is_admin=is_admin,
    )
    session.add(user)
    try:
        session.flush()
    except SAIntegrityError as exc:
        raise AlreadyExists(f"user {name!r} exists already") from exc
    return user


def list_users(db: Database) -> list[User]:
    with db.read() as session:
        return list(session.scalars(select(User).order_by(User.name)))


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name!r} not found")
    return user


def user_name(session: Session, user_id: str | None) -> str:
    if user_id is None:
        return "(job)"
    return session.scalar(select(User.name).where(User.id == user_id)) or "(deleted)"


def count_users(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


# A deployment's name (corridor.serving.spec.DEPLOYMENT_NAME; the security core sits below
# the slices, so it checks the shape only: the gateway checks the rest on each request).
_DEPLOYMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def issue_token(
    session: Session,
    user: User,
    *,
    name: str,
    ttl: dt.timedelta | None,
    invoke_deployment: str | None = None,
) -> IssuedToken:
    """Create a token for ``user``; ``ttl=None`` makes one that never expires.

    With ``invoke_deployment`` the token may invoke that one deployment (while its owner may)
    and call nothing else: a credential to hand to an application.
    """
    check_name("token", name)
    if ttl is not None and ttl <= dt.timedelta(0):
        raise InvalidInput("token lifetime must be positive")
    if invoke_deployment is not None and not _DEPLOYMENT_NAME.fullmatch(invoke_deployment):
        raise InvalidInput(
            f"{invoke_deployment!r} is not a deployment name: lower-case letters, digits, "
            "'.', '_' and '-', at most 63 characters"
        )
    secret = new_token_secret()
    now = utcnow()
    token = Token(
        user_id=user.id,
        name=name,
        secret_hash=hash_token(secret),
        prefix=secret[:10],
        created_at=now,
        expires_at=now + ttl if ttl is not None else None,
        invoke_deployment=invoke_deployment,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token=token, secret=secret)


def list_tokens(db: Database, *, user_id: str | None) -> list[tuple[Token, str]]:
    """Tokens with their owner's name; ``user_id=None`` lists everyone's."""
    with db.read() as session:
        query = select(Token, User.name).join(User, User.id == Token.user_id)
        if user_id is not None:
            query = query.where(Token.user_id == user_id)
        rows = session.execute(query.order_by(Token.created_at))
        return [(token, owner) for token, owner in rows]


def revoke_token(session: Session, token_id: str, *, by: Principal) -> Token:
    token = session.get(Token, token_id)
    # A token that is not the caller's is reported as absent unless the caller is an admin; a
    # job token is its attempt's, which revokes it when the attempt ends.
    if token is None or token.user_id is None or (not by.is_admin and token.user_id != by.user_id):
        raise NotFound(f"token {token_id!r} not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def authenticate_token(db: Database, secret: str, *, session: Session | None = None) -> Principal:
    """Return the principal a bearer token stands for, or raise ``Unauthenticated``.

    With ``session`` (the request's read session) the token is looked up in its transaction;
    the database is read on every call either way, so a revoked token fails at once.
    """
    if not looks_like_token(secret):
        raise Unauthenticated("the bearer credential is not a Corridor token")
    digest = {"digest": hash_token(secret)}
    if session is not None:
        row = session.connection().execute(_TOKEN_LOOKUP, digest).first()
    else:
        with db.read_connection() as conn:
            row = conn.execute(_TOKEN_LOOKUP, digest).first()
    if row is None:
        raise Unauthenticated("unknown token")
    now = utcnow()
    if row.revoked_at is not None:
        raise Unauthenticated("this token was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated(f"this token expired at {row.expires_at:%Y-%m-%d %H:%M} UTC")
    if row.job_id is not None:
        # Job tokens are checked for use on every worker call already; no last-used writes.
        return Principal(
            user_id=None,
            name=f"job:{row.job_id}",
            is_admin=False,
            token_id=row.id,
            job_id=row.job_id,
            job_attempt=row.job_attempt,
        )
    if row.user_id is None:
        raise Unauthenticated("unknown token")
    if row.disabled:
        raise Unauthenticated(f"user {row.name!r} is disabled")
    if row.invoke_deployment is not None:
        raise PermissionDenied(
            f"this token may only invoke deployment {row.invoke_deployment!r} "
            f"(/v2/models/{row.invoke_deployment}/infer); use another token for this route"
        )
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
        with db.write() as session:
            fresh = session.get(Token, row.id)
            if fresh is not None:
                fresh.last_used_at = now
    return Principal(
        user_id=row.user_id,
        name=row.name,
        is_admin=row.is_admin,
        token_id=row.id,
        project_scope=row.project_scope,
    )


def issue_job_token(
    session: Session, *, job_id: str, attempt: int, ttl: dt.timedelta
) -> IssuedToken:
    """Create the token one attempt's worker calls back with: it acts as nothing but that
    attempt's worker, and expires with the attempt's lease unless heartbeats extend it."""
    if ttl <= dt.timedelta(0):
        raise InvalidInput("token lifetime must be positive")
    secret = new_token_secret()
    now = utcnow()
    token = Token(
        user_id=None,
        name=f"job-{attempt}",
        secret_hash=hash_token(secret),
        prefix=secret[:10],
        created_at=now,
        expires_at=now + ttl,
        job_id=job_id,
        job_attempt=attempt,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token=token, secret=secret)


def extend_job_token(session: Session, token_id: str, *, expires_at: dt.datetime) -> None:
    """Move a live job token's expiry to ``expires_at`` (a heartbeat renewed the lease)."""
    session.execute(
        update(Token)
        .where(Token.id == token_id, Token.job_id.is_not(None), Token.revoked_at.is_(None))
        .values(expires_at=expires_at)
    )


def end_job_token(session: Session, token_id: str, *, grace: dt.timedelta) -> None:
    """Let a job token run out ``grace`` from now: its attempt ended.

    The grace lets a late worker hear, from the fenced worker routes, that its attempt is no
    longer current (and stop its job) rather than just that its token is unknown.
    """
    expires_at = utcnow() + grace
    session.execute(
        update(Token)
        .where(
            Token.id == token_id,
            Token.job_id.is_not(None),
            or_(Token.expires_at.is_(None), Token.expires_at > expires_at),
        )
        .values(expires_at=expires_at)
    )


def delete_expired_job_tokens(session: Session, *, before: dt.datetime) -> int:
    """Delete job tokens that expired before ``before`` (one row per attempt would pile up)."""
    result = session.execute(
        delete(Token).where(Token.job_id.is_not(None), Token.expires_at < before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def revoke_job_tokens(session: Session, job_ids: Sequence[str]) -> None:
    """Revoke every token of these jobs at once (the jobs are deleted or their data gone)."""
    if job_ids:
        session.execute(
            update(Token)
            .where(Token.job_id.in_(list(job_ids)), Token.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def login(session: Session, name: str, password: str, *, ttl: dt.timedelta) -> IssuedToken:
    """Check a user's password and issue a session token, or raise ``Unauthenticated``."""
    user = session.scalar(select(User).where(User.name == name))
    ok = verify_password(user.password_hash if user is not None else None, password)
    if user is None or not ok or user.disabled:
        raise Unauthenticated("wrong user name or password")
    return issue_token(session, user, name="login", ttl=ttl)


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDenied("this needs a server administrator")
