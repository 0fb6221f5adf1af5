"""Request and response bodies of the security routes."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from corridor.schemas import Request, Response
from corridor.security.policy import Role


class LoginRequest(Request):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class IssuedTokenOut(Response):
    id: str
    name: str
    token: str = Field(description="The secret; shown once, never again.")
    expires_at: dt.datetime | None
    invoke: str | None = Field(
        default=None, description="The one deployment this token may invoke, if it is limited."
    )


class WhoAmI(Response):
    name: str
    is_admin: bool


class UserCreate(Request):
    name: str = Field(max_length=256)
    password: str | None = Field(default=None, max_length=1024)
    is_admin: bool = False


class UserOut(Response):
    id: str
    name: str
    is_admin: bool
    disabled: bool
    created_at: dt.datetime


class TokenCreate(Request):
    name: str = Field(max_length=256)
    ttl_days: int | None = Field(default=None, gt=0, le=3650)
    never_expires: bool = False
    user: str | None = Field(default=None, description="Owner; only admins name another user.")
    invoke: str | None = Field(
        default=None,
        max_length=63,
        description="A deployment's name: the token may invoke that deployment and nothing "
        "else (for applications), while its owner may.",
    )


class TokenOut(Response):
    id: str
    name: str
    user: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    invoke: str | None = Field(
        default=None, description="The one deployment this token may invoke, if it is limited."
    )


class ProjectCreate(Request):
    name: str = Field(max_length=256)
    description: str = Field(default="", max_length=2000)


class ProjectUpdate(Request):
    description: str = Field(max_length=2000)


class ProjectOut(Response):
    id: str
    name: str
    description: str
    created_at: dt.datetime
    allow_pickle: bool = Field(
        default=False,
        description="Whether Corridor's loaders may unpickle this project's models (set by a "
        "server admin: PUT /api/v1/projects/{project}/pickle).",
    )


class PickleSwitch(Request):
    allowed: bool = Field(description="Let loaders unpickle this project's models, or not.")


class RoleGrant(Request):
    role: Role


class MemberOut(Response):
    user: str
    role: Role


class AuditEventOut(Response):
    seq: int
    time: dt.datetime
    actor: str
    action: str
    target: str
    outcome: str
    request_id: str
    detail: dict[str, object]
    hash: str


class AuditVerifyOut(Response):
    ok: bool
    checked: int
    head_seq: int
    first_bad_seq: int | None
    fault: str | None
    message: str
