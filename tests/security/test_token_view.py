from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select, update

from corridor.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from corridor.security import identity, projects
from corridor.security.access_changes import read_marker
from corridor.security.models import Project, Token, User
from corridor.security.policy import Principal, Role
from corridor.security.token_view import TokenView
from corridor.store.db import Database
from tests.conftest import sqlite_only

DAY = dt.timedelta(days=1)


def _user(db: Database, name: str, *, is_admin: bool = False) -> User:
    with db.write() as session:
        return identity.create_user(session, name, is_admin=is_admin)


def _token(db: Database, user: User, invoke: str | None = None, ttl: dt.timedelta = DAY) -> str:
    with db.write() as session:
        owner = session.get(User, user.id)
        assert owner is not None
        return identity.issue_token(
            session, owner, name="t", ttl=ttl, invoke_deployment=invoke
        ).secret


def _project(db: Database, name: str, members: dict[str, Role]) -> str:
    with db.write() as session:
        project = projects.create_project(
            session, name, description="", by=Principal(user_id=None, name="op", is_admin=True)
        )
        for user, role in members.items():
            projects.grant(session, project, user, role)
        return project.id


def _marker(db: Database) -> int:
    with db.read_connection() as conn:
        return read_marker(conn)


@sqlite_only
def test_view_authenticates_live_tokens_and_says_why_it_refuses_others(db: Database) -> None:
    alice = _user(db, "alice")
    live = _token(db, alice)
    revoked = _token(db, alice)
    token_id = identity.authenticate_token(db, revoked).token_id
    assert token_id is not None
    with db.write() as session:
        identity.revoke_token(session, token_id, by=Principal(alice.id, "alice", False))
    view = TokenView(db)
    view.load()
    assert view.authenticate(live).user_name == "alice"
    with pytest.raises(Unauthenticated, match="revoked"):
        view.authenticate(revoked)
    with pytest.raises(Unauthenticated, match="unknown"):
        view.authenticate("cor_" + "x" * 43)
    with pytest.raises(Unauthenticated, match="not a Corridor token"):
        view.authenticate("not-a-token")


@sqlite_only
def test_a_token_that_expired_is_refused_as_expired(db: Database) -> None:
    alice = _user(db, "alice")
    secret = _token(db, alice)
    with db.write() as session:
        session.execute(
            update(Token).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    view = TokenView(db)
    view.load()
    with pytest.raises(Unauthenticated, match="expired"):
        view.authenticate(secret)


def test_access_changes_bump_the_marker_and_token_use_does_not(db: Database) -> None:
    alice = _user(db, "alice")
    start = _marker(db)
    secret = _token(db, alice)
    after_issue = _marker(db)
    assert after_issue > start
    identity.authenticate_token(db, secret)  # writes last_used_at
    assert _marker(db) == after_issue
    _project(db, "shop", {"alice": Role.VIEWER})
    assert _marker(db) > after_issue


@sqlite_only
def test_a_reload_follows_the_marker(db: Database) -> None:
    alice = _user(db, "alice")
    view = TokenView(db)
    view.load()
    assert not view.refresh_if_changed()
    secret = _token(db, alice)
    assert view.refresh_if_changed()
    assert view.authenticate(secret).user_id == alice.id


def test_a_commit_in_this_process_reloads_a_started_view_before_it_returns(db: Database) -> None:
    alice = _user(db, "alice")
    secret = _token(db, alice)

    async def scenario() -> None:
        view = TokenView(db)
        await view.start()
        try:
            entry = view.authenticate(secret)
            with db.write() as session:
                identity.revoke_token(session, entry.token_id, by=Principal(None, "op", True))
            # No poll has run yet: the commit hook reloaded the view.
            with pytest.raises(Unauthenticated, match="revoked"):
                view.authenticate(secret)
        finally:
            await view.stop()

    asyncio.run(scenario())


@sqlite_only
def test_invoke_needs_editor_or_admin_and_hides_projects_from_outsiders(db: Database) -> None:
    for name in ("ed", "vic", "out"):
        _user(db, name)
    _user(db, "boss", is_admin=True)
    shop = _project(db, "shop", {"ed": Role.EDITOR, "vic": Role.VIEWER})
    tokens = {name: _token(db, user) for name, user in _users(db).items()}
    view = TokenView(db)
    view.load()
    ed, vic, out = (view.authenticate(tokens[n]) for n in ("ed", "vic", "out"))
    view.check_invoke(ed, "mlp", shop)
    view.check_invoke(view.authenticate(tokens["boss"]), "mlp", shop)
    with pytest.raises(PermissionDenied, match="viewer"):
        view.check_invoke(vic, "mlp", shop)
    view.check_read(vic, "mlp", shop)
    with pytest.raises(NotFound, match="'mlp' not found"):
        view.check_invoke(out, "mlp", shop)
    with pytest.raises(NotFound):
        view.check_read(out, "mlp", shop)


@sqlite_only
def test_an_invoke_only_token_invokes_its_deployment_only_and_no_api_route(db: Database) -> None:
    _user(db, "ed")
    shop = _project(db, "shop", {"ed": Role.EDITOR})
    ed = _users(db)["ed"]
    secret = _token(db, ed, invoke="mlp")
    view = TokenView(db)
    view.load()
    entry = view.authenticate(secret)
    assert entry.invoke_deployment == "mlp"
    view.check_invoke(entry, "mlp", shop)
    with pytest.raises(PermissionDenied, match="only deployment 'mlp'"):
        view.check_invoke(entry, "other", shop)
    with pytest.raises(PermissionDenied, match="may only invoke deployment 'mlp'"):
        identity.authenticate_token(db, secret)


@sqlite_only
def test_an_invoke_only_token_stops_when_its_owner_loses_the_role(db: Database) -> None:
    _user(db, "ed")
    shop = _project(db, "shop", {"ed": Role.EDITOR})
    secret = _token(db, _users(db)["ed"], invoke="mlp")
    with db.write() as session:
        project = session.scalars(select(Project).where(Project.id == shop)).one()
        projects.revoke(session, project, "ed")
    view = TokenView(db)
    view.load()
    with pytest.raises(NotFound):
        view.check_invoke(view.authenticate(secret), "mlp", shop)


def _users(db: Database) -> dict[str, User]:
    with db.read() as session:
        return {u.name: u for u in session.scalars(select(User))}


@sqlite_only
def test_a_token_cannot_be_limited_to_a_name_no_deployment_can_have(db: Database) -> None:
    alice = _user(db, "alice")
    with db.write() as session:
        owner = session.get(User, alice.id)
        assert owner is not None
        with pytest.raises(InvalidInput, match="not a deployment name"):
            identity.issue_token(session, owner, name="t", ttl=DAY, invoke_deployment="Bad Name")


@sqlite_only
def test_a_job_token_is_not_in_the_view_and_never_invokes(db: Database) -> None:
    with db.write() as session:
        issued = identity.issue_job_token(session, job_id="j1", attempt=1, ttl=DAY)
    view = TokenView(db)
    view.load()
    with pytest.raises(Unauthenticated, match="unknown token"):
        view.authenticate(issued.secret)
