"""Run tokens: the credential a server-started driver job calls back with.

A run token is a user token of the run's creator, limited to the run's project
(``project_scope``) and tied to the run (``pipeline_run_id``): with it the driver reads and
writes in that project with its creator's role at the time of each request, and can reach no
other project, no server or project administration and no deployment. It expires in 7 days and
is revoked when the run ends. Only its hash is stored; the secret travels in the driver job's
input payload, which is encrypted at rest like every blob.

A run made by the local administrator (file access to the home, no user) gets a token of the
home's first enabled administrator, as the in-process client's loopback server does; a home
with none cannot run server-driven pipelines for the local administrator.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.pipelines.models import PipelineRun
from corridor.security.credentials import hash_token, new_token_secret
from corridor.security.models import Token, User
from corridor.store.base import utcnow

TTL = dt.timedelta(days=7)


def _user_of(session: Session, run: PipelineRun) -> User:
    if run.created_by_user_id is not None:
        user = session.get(User, run.created_by_user_id)
        if user is None or user.disabled:
            raise InvalidInput(
                f"pipeline run {run.number} cannot start: its creator {run.created_by!r} "
                "no longer exists or is disabled"
            )
        return user
    admin = session.scalar(
        select(User).where(User.is_admin.is_(True), User.disabled.is_(False)).order_by(User.name)
    )
    if admin is None:
        raise InvalidInput(
            "a server-started pipeline run of the local administrator needs an enabled "
            "administrator in the home to act as (`corridor init` makes one)"
        )
    return admin


def mint(session: Session, run: PipelineRun, *, now: dt.datetime | None = None) -> tuple[str, str]:
    """Create the run's token; ``(token id, secret)`` (the secret is shown this once)."""
    now = now or utcnow()
    user = _user_of(session, run)
    secret = new_token_secret()
    token = Token(
        user_id=user.id,
        name="pipeline-run",
        secret_hash=hash_token(secret),
        prefix=secret[:10],
        created_at=now,
        expires_at=now + TTL,
        project_scope=run.project_id,
        pipeline_run_id=run.id,
    )
    session.add(token)
    session.flush()
    run.run_token_id = token.id
    return token.id, secret


def revoke(session: Session, run: PipelineRun, *, now: dt.datetime | None = None) -> None:
    """Revoke every live token of the run (it ended)."""
    # Through the ORM, not a bulk UPDATE: the access-change hook sees it and token views reload.
    for token in session.scalars(
        select(Token).where(Token.pipeline_run_id == run.id, Token.revoked_at.is_(None))
    ):
        token.revoked_at = now or utcnow()
