"""Who may call an MLflow route: the project is found from what the request names.

MLflow's API has no project in its paths: a request names an experiment, a run, a logged model
or a registered model, and that thing's project is the one whose roles apply. `MlflowGuard`
is a `Guard` (so the route table still lists one permission per route) that reads the request
message once (the query of a GET, the JSON body otherwise), validates it, finds the project
with the route's `Locator`, and authorises the caller there. The handler gets the message back
in `MlflowAccess`, already parsed.

Names that lead nowhere and projects the caller has no role in both answer
RESOURCE_DOES_NOT_EXIST, so MLflow's surface hides projects exactly as Corridor's own API does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, JsonValue, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.client_input import parse_json
from corridor.errors import InvalidInput, NotFound
from corridor.security import projects
from corridor.security.models import Project
from corridor.security.policy import PROJECT_PERMISSIONS, Permission, Principal
from corridor.tracking.experiments import DEFAULT_PROJECT, ensure_default_experiment
from corridor.web.guard import Access, Guard, detached
from corridor.web.sessions import REQUEST_READS, RequestReads

M = TypeVar("M", bound=BaseModel)

# MLflow's header naming the workspace; in Corridor a workspace is a project.
WORKSPACE_HEADER = "x-mlflow-workspace"

# A project a request acts in, and what the request named that led there ("run 'ab12...'").
Located = tuple[str, str]
# Finds the projects a request acts in, from the route's parsed message ``M``: usually one;
# none for a listing that spans every project the caller may read, several for a search over
# experiments of several projects.
Locator = Callable[[Session, M, Request], Sequence[Located]]

# A request message as read, before it is validated: the JSON body, or the query's strings.
RawMessage = dict[str, JsonValue]


@dataclass(frozen=True)
class MlflowAccess(Access):
    """What an MLflow route may rely on: caller, project, and the parsed request message."""

    message: BaseModel | None = None
    workspace: str | None = None

    def message_as(self, kind: type[M]) -> M:
        assert isinstance(self.message, kind), "route guarded with another message type"
        return self.message


def workspace_of(request: Request) -> str | None:
    """The project an MLflow client's workspace header names, if it sends one."""
    value = request.headers.get(WORKSPACE_HEADER, "").strip()
    return value or None


async def read_message(request: Request) -> RawMessage:
    """The request message as JSON: the query string of a GET, the body of anything else."""
    if request.method == "GET":
        data: RawMessage = {}
        for key in request.query_params:
            values: list[JsonValue] = list(request.query_params.getlist(key))
            data[key] = values if len(values) > 1 else values[0]
        return data
    body = await request.body()
    if not body.strip():
        return {}
    parsed = parse_json(body)
    if not isinstance(parsed, dict):
        raise InvalidInput("request body must be a JSON object")
    return parsed


def parse(kind: type[M], data: RawMessage) -> M:
    """Validate ``data`` as the message ``kind``; `InvalidInput` naming the bad fields if not."""
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            if err.get("type") == "missing":
                parts.append(f"Missing value for required parameter '{where}'")
            else:
                parts.append(f"Invalid value for parameter '{where}': {err.get('msg')}")
        raise InvalidInput("; ".join(parts)) from None


class MlflowGuard(Guard, Generic[M]):
    """Authenticate, parse the message, locate its project(s) and check ``permission`` there."""

    def __init__(self, permission: Permission, message: type[M], locate: Locator[M]) -> None:
        super().__init__(permission)
        self.message = message
        self.locate = locate

    def __call__(
        self,
        request: Request,
        reads: RequestReads = REQUEST_READS,
        raw: RawMessage = Depends(read_message),
    ) -> MlflowAccess:
        request.state.mlflow_message = raw
        access = super().__call__(request, reads)
        assert isinstance(access, MlflowAccess)
        return access

    def _authorize(self, request: Request, reads: RequestReads, principal: Principal) -> Access:
        message = parse(self.message, request.state.mlflow_message)
        workspace = workspace_of(request)
        if self.permission not in PROJECT_PERMISSIONS:
            super()._authorize(request, reads, principal)
            return MlflowAccess(principal=principal, message=message, workspace=workspace)
        # The request's read session: the same transaction as the token lookup.
        session = reads.session
        located = list(dict.fromkeys(self.locate(session, message, request)))
        try:
            found = self._authorize_all(session, located, principal)
        except NotFound:
            names = {name for name, _ in located}
            if DEFAULT_PROJECT not in names or _project_exists(session, DEFAULT_PROJECT):
                raise
            found = None
        if found is None:
            # MLflow's experiment "0" always exists; Corridor makes it (in the project
            # "default", which has no members) the first time a request names it. A fresh read
            # sees it: the request's session may hold a snapshot from before it.
            db = reads.runtime.db
            with db.write() as written:
                ensure_default_experiment(written)
            with db.read() as fresh:
                found = self._authorize_all(fresh, located, principal)
        # A search over experiments of several projects was authorised in each of them;
        # routes that act in one project find it here.
        return MlflowAccess(
            principal=principal,
            project=found[0] if found else None,
            message=message,
            workspace=workspace,
        )

    def _authorize_all(
        self, session: Session, located: list[Located], principal: Principal
    ) -> tuple[Project, ...]:
        found: dict[str, Project] = {}
        for name, named in located:
            if name in found:
                continue
            try:
                project = projects.authorize(session, name, principal, self.permission)
                found[name] = detached(session, project)
            except NotFound:
                # Say what a missing thing would: no hint that it exists in a hidden project.
                raise NotFound(f"{named} not found") from None
        return tuple(found.values())


def _project_exists(session: Session, name: str) -> bool:
    return session.scalar(select(Project.id).where(Project.name == name)) is not None


def mlflow_requires(permission: Permission, message: type[M], locate: Locator[M]) -> Any:
    """Declare an MLflow route's permission, its request message and how to find its project."""
    # `Depends` is typed Any so that it can stand as a parameter's default; routes declare the
    # parameter as `MlflowAccess`.
    return Depends(MlflowGuard(permission, message, locate))
