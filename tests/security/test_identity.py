from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from corridor.errors import AlreadyExists, InvalidInput, NotFound, Unauthenticated
from corridor.security import identity
from corridor.security.credentials import hash_token
from corridor.security.models import Token, User
from corridor.security.policy import Principal
from corridor.store.db import Database

DAY = dt.timedelta(days=1)


def _user(db: Database, name: str = "alice", **kwargs: object) -> User:
    with db.write() as session:
        return identity.create_user(session, name, **kwargs)  # type: ignore[arg-type]


def test_token_authenticates_as_its_user_and_is_stored_only_hashed(db: Database) -> None:
    user = _user(db)
    with db.write() as session:
        issued = identity.issue_token(session, user, name="ci", ttl=DAY)
    principal = identity.authenticate_token(db, issued.secret)
    assert principal.name == "alice"
    assert principal.token_id == issued.token.id
    assert len(issued.secret) > 40  # 256 random bits, URL-safe
    with db.read() as session:
        stored = session.scalars(select(Token)).one()
        assert stored.secret_hash == hash_token(issued.secret)
        assert issued.secret not in repr(vars(stored))
        assert stored.last_used_at is not None


def test_expired_revoked_and_unknown_tokens_are_refused(db: Database) -> None:
    user = _user(db)
    with db.write() as session:
        expired = identity.issue_token(session, user, name="old", ttl=DAY)
        revoked = identity.issue_token(session, user, name="gone", ttl=DAY)
    with db.write() as session:
        session.execute(
            update(Token)
            .where(Token.id == expired.token.id)
            .values(expires_at=dt.datetime.now(dt.UTC) - DAY)
        )
    owner = Principal(user_id=user.id, name="alice", is_admin=False)
    with db.write() as session:
        identity.revoke_token(session, revoked.token.id, by=owner)
    with pytest.raises(Unauthenticated, match="expired"):
        identity.authenticate_token(db, expired.secret)
    with pytest.raises(Unauthenticated, match="revoked"):
        identity.authenticate_token(db, revoked.secret)
    with pytest.raises(Unauthenticated, match="unknown"):
        identity.authenticate_token(db, "cor_" + "x" * 43)
    with pytest.raises(Unauthenticated, match="not a Corridor token"):
        identity.authenticate_token(db, "Basic abc")


def test_only_the_owner_or_an_admin_revokes_a_token(db: Database) -> None:
    alice = _user(db, "alice")
    _user(db, "bob")
    with db.write() as session:
        issued = identity.issue_token(session, alice, name="t", ttl=DAY)
    bob = Principal(user_id="someone-else", name="bob", is_admin=False)
    with pytest.raises(NotFound), db.write() as session:
        identity.revoke_token(session, issued.token.id, by=bob)
    with db.write() as session:
        identity.revoke_token(session, issued.token.id, by=Principal.local_admin())
    with pytest.raises(Unauthenticated):
        identity.authenticate_token(db, issued.secret)


def test_duplicate_user_is_refused_and_nothing_is_written(db: Database) -> None:
    _user(db)
    with pytest.raises(AlreadyExists), db.write() as session:
        identity.create_user(session, "alice")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1


def test_short_passwords_and_bad_names_are_refused(db: Database) -> None:
    with pytest.raises(InvalidInput, match="at least 12"), db.write() as session:
        identity.create_user(session, "carol", password="short")
    with pytest.raises(InvalidInput, match="path separator"), db.write() as session:
        identity.create_user(session, "../carol")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_login_checks_the_password(db: Database) -> None:
    _user(db, "dora", password="correct horse battery")
    with db.write() as session:
        issued = identity.login(session, "dora", "correct horse battery", ttl=DAY)
    assert identity.authenticate_token(db, issued.secret).name == "dora"
    for name, password in [("dora", "wrong password!!"), ("nobody", "correct horse battery")]:
        with (
            pytest.raises(Unauthenticated, match="wrong user name or password"),
            db.write() as session,
        ):
            identity.login(session, name, password, ttl=DAY)
