"""`corridor serve M@alias`: one model, served standalone from the local home, in the foreground.

It deploys the model (a new deployment, or the next revision of one of the same name) on the
local home, as its administrator, with the same checks as `corridor deploy`; makes a token that
may invoke that deployment and nothing else; prints where to send requests and that token; and
then becomes `corridor server` (the process is replaced, so Ctrl-C and SIGTERM stop the server
as they stop `corridor server`; a slice never imports the server itself). The deployment stays
after the server stops: `corridor deployments delete NAME` removes it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from typing import TYPE_CHECKING

import typer

from corridor.console import say
from corridor.errors import ConfigurationError

if TYPE_CHECKING:
    from corridor.config import Settings

TOKEN_TTL = dt.timedelta(days=30)


def default_name(model_name: str) -> str:
    """A deployment name from a model name: ``churn/Fraud v2`` -> ``fraud-v2``."""
    tail = model_name.rsplit("/", 1)[-1].lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", tail).strip("-._")[:63]
    return name or "model"


def serve(
    ref: str = typer.Argument(..., help="The model to serve: M@alias or M@N."),
    name: str = typer.Option(
        None, "--name", help="The deployment's name (default: the model's, lower-cased)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="The port to listen on."),
    replicas: int = typer.Option(1, "--replicas", min=1, max=256, help="Replicas to run."),
) -> None:
    """Serve one model from the local home until Ctrl-C, with a token that can invoke it.

    Prints the URL of /v2/models/NAME/infer and a new token that may invoke NAME only, so that
    curl works at once.
    """
    from corridor.config import Settings
    from corridor.registry.model_refs import parse_model_ref

    settings = Settings()
    if settings.url:
        raise ConfigurationError(
            "corridor serve runs a model on the local home; CORRIDOR_URL names a server. "
            "Use `corridor deploy` for a server, or unset CORRIDOR_URL"
        )
    parsed = parse_model_ref(ref)
    name = name or default_name(parsed.name)
    deployed, project, revision, secret = _deploy_locally(settings, ref, name, replicas)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 (what to print)
    base = f"http://{shown}:{port}"
    say(f"Serving {ref} as deployment {deployed!r} (project {project}, revision {revision})")
    say(f"  infer:  POST {base}/v2/models/{deployed}/infer")
    say(f"  ready:  GET  {base}/v2/models/{deployed}/ready")
    say(f"  token:  {secret}")
    say(f"          (may invoke {deployed!r} only; expires in {TOKEN_TTL.days} days)")
    say(f"  try:    curl -H 'Authorization: Bearer {secret}' {base}/v2/models/{deployed}")
    say("Stop with Ctrl-C (the deployment stays: corridor deployments delete " + deployed + ").")
    sys.stdout.flush()
    sys.stderr.flush()
    command = [sys.executable, "-m", "corridor", "server", "--host", host, "--port", str(port)]
    os.execv(sys.executable, command)  # noqa: S606 (our own interpreter, no shell)


def _deploy_locally(
    settings: Settings, ref: str, name: str, replicas: int
) -> tuple[str, str, int, str]:
    """Deploy ``ref`` as ``name`` on the local home and issue an invoke-only token for it:
    (name, project, revision, the token's secret), in one transaction with its audit event."""
    from sqlalchemy import select

    from corridor.home import require_initialised
    from corridor.registry.model_refs import parse_model_ref
    from corridor.registry.service import model_project
    from corridor.runtime import Runtime
    from corridor.security import audit, identity
    from corridor.security.audit import AuditEntry
    from corridor.security.models import User
    from corridor.security.policy import LOCAL_ADMIN_NAME
    from corridor.serving import service
    from corridor.serving.schemas import DeployIn
    from corridor.store.base import new_id

    require_initialised(settings)
    runtime = Runtime(settings, local_admin=True)
    try:
        with runtime.db.write() as session:
            project = model_project(session, parse_model_ref(ref).name)
            body = DeployIn(name=name, model=ref, replicas=replicas)
            done = service.deploy(session, project, body, actor=LOCAL_ADMIN_NAME)
            admin = session.scalar(
                select(User).where(User.is_admin.is_(True)).order_by(User.created_at).limit(1)
            )
            if admin is None:
                raise ConfigurationError("the local home has no administrator to own the token")
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
            issued = identity.issue_token(
                session, admin, name=f"serve-{name}-{stamp}", ttl=TOKEN_TTL, invoke_deployment=name
            )
            audit.append_in(
                session,
                AuditEntry(
                    actor=LOCAL_ADMIN_NAME,
                    action="serving.serve",
                    target=f"/api/v1/projects/{project.name}/deployments/{name}",
                    outcome="success",
                    request_id=new_id(),
                    detail={"revision": done.revision, "token": issued.token.id},
                ),
            )
            return done.name, project.name, done.revision, issued.secret
    finally:
        runtime.close()
