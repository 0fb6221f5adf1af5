"""Administration commands: users, tokens, projects, roles, the audit log and blob storage."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from corridor.console import print_json, print_rows, say, show

if TYPE_CHECKING:
    from corridor.client.client import Client

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


def client() -> Client:
    from corridor.client.client import Client

    return Client()


def _read_password_stdin() -> str:
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise typer.BadParameter("no password on standard input")
    return password


users = typer.Typer(help="Create and list users.", no_args_is_help=True)
tokens = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
projects = typer.Typer(help="Create and list projects.", no_args_is_help=True)
roles = typer.Typer(help="Grant and revoke roles in a project.", no_args_is_help=True)
audit = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)
maintenance = typer.Typer(help="Maintain the server's stores.", no_args_is_help=True)
signing_key = typer.Typer(
    help="List and rotate the keys that sign model packages (rotate: server admins).",
    no_args_is_help=True,
)
pickle_switch = typer.Typer(
    help="Let Corridor's loaders unpickle a project's models, or stop them (server admins).",
    no_args_is_help=True,
)


@users.command("create")
def users_create(
    name: str,
    admin: bool = typer.Option(False, "--admin", help="Make a server administrator."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read a password (for UI login) from standard input."
    ),
    as_json: bool = JSON,
) -> None:
    """Create a user."""
    password = _read_password_stdin() if password_stdin else None
    with client() as c:
        user = c.create_user(name, password=password, is_admin=admin)
    print_json(user) if as_json else say(f"created user {user.name}")


@users.command("ls")
def users_ls(as_json: bool = JSON) -> None:
    """List users."""
    with client() as c:
        show(c.list_users(), ["name", "is_admin", "disabled", "created_at"], as_json=as_json)


@tokens.command("create")
def tokens_create(
    name: str,
    user: str = typer.Option(None, "--user", help="Owner (administrators only); default you."),
    ttl_days: int = typer.Option(None, "--ttl-days", min=1, help="Lifetime in days."),
    never_expires: bool = typer.Option(False, "--never-expires", help="No expiry."),
    invoke: str = typer.Option(
        None,
        "--invoke",
        metavar="DEPLOYMENT",
        help="Make a token that may invoke this deployment and nothing else (for applications).",
    ),
    as_json: bool = JSON,
) -> None:
    """Create a token; its secret is printed this once."""
    with client() as c:
        issued = c.create_token(
            name, user=user, ttl_days=ttl_days, never_expires=never_expires, invoke=invoke
        )
    if as_json:
        print_json(issued)
        return
    limited = f", may invoke only {issued.invoke}" if issued.invoke else ""
    say(f"token {issued.id} ({issued.name}), expires {issued.expires_at or 'never'}{limited}")
    say(issued.token)


@tokens.command("ls")
def tokens_ls(
    all_users: bool = typer.Option(False, "--all", help="Everyone's (administrators)."),
    as_json: bool = JSON,
) -> None:
    """List tokens (never their secrets)."""
    with client() as c:
        rows = c.list_tokens(all_users=all_users)
    columns = ["id", "name", "user", "invoke", "prefix", "expires_at", "revoked_at", "last_used_at"]
    show(rows, columns, as_json=as_json)


@tokens.command("revoke")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by id; it stops working at once."""
    with client() as c:
        c.revoke_token(token_id)
    say(f"revoked token {token_id}")


@projects.command("create")
def projects_create(
    name: str,
    description: str = typer.Option("", "--description", help="What the project is for."),
    as_json: bool = JSON,
) -> None:
    """Create a project (you become its admin)."""
    with client() as c:
        project = c.create_project(name, description=description)
    print_json(project) if as_json else say(f"created project {project.name}")


@projects.command("ls")
def projects_ls(as_json: bool = JSON) -> None:
    """List the projects you can see."""
    with client() as c:
        columns = ["name", "description", "allow_pickle", "created_at"]
        show(c.list_projects(), columns, as_json=as_json)


@roles.command("grant")
def roles_grant(
    project: str, user: str, role: str = typer.Argument(help="viewer, editor or admin")
) -> None:
    """Give USER the ROLE in PROJECT (replacing any role it had)."""
    with client() as c:
        c.grant_role(project, user, role)
    say(f"{user} is now {role} in {project}")


@roles.command("revoke")
def roles_revoke(project: str, user: str) -> None:
    """Remove USER from PROJECT."""
    with client() as c:
        c.revoke_role(project, user)
    say(f"{user} has no role in {project} any more")


@roles.command("ls")
def roles_ls(project: str, as_json: bool = JSON) -> None:
    """List the members of PROJECT and their roles."""
    with client() as c:
        show(c.list_members(project), ["user", "role"], as_json=as_json)


@audit.command("ls")
def audit_ls(
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    after: int = typer.Option(None, "--after", min=0, help="Only events after this seq."),
    as_json: bool = JSON,
) -> None:
    """List audit events, oldest first."""
    with client() as c:
        rows = c.audit_events(limit=limit, after=after)
    show(rows, ["seq", "time", "actor", "action", "target", "outcome"], as_json=as_json)


@audit.command("verify")
def audit_verify(as_json: bool = JSON) -> None:
    """Check the audit chain; exit 1 and name the first bad event if it was tampered with."""
    with client() as c:
        report = c.verify_audit()
    if as_json:
        print_json(report)
    elif report.ok:
        say(f"audit chain intact: {report.checked} events verified")
    else:
        say(f"audit chain BROKEN at event {report.first_bad_seq}: {report.message}")
    if not report.ok:
        raise typer.Exit(1)


@pickle_switch.command("allow")
def pickle_allow(project: str, as_json: bool = JSON) -> None:
    """Let loaders unpickle PROJECT's models, and its editors register them. Audited.

    Only for a project whose editors you trust to run code on every machine that loads its
    models.
    """
    with client() as c:
        found = c.set_project_pickle(project, allowed=True)
    print_json(found) if as_json else say(f"project {project}: pickle-based models may be loaded")


@pickle_switch.command("deny")
def pickle_deny(project: str, as_json: bool = JSON) -> None:
    """Refuse pickle-based models in PROJECT again (the default). Audited."""
    with client() as c:
        found = c.set_project_pickle(project, allowed=False)
    print_json(found) if as_json else say(f"project {project}: pickle-based models are refused")


maintenance.add_typer(pickle_switch, name="pickle")


@signing_key.command("ls")
def signing_key_ls(as_json: bool = JSON) -> None:
    """List the package signing keys: the active one and the retired ones, which still verify
    what they signed."""
    with client() as c:
        keys = c.registry.signing_keys()
    if as_json:
        print_json(keys)
        return
    rows = [(k.id, "active" if k.active else "retired", k.created_at, k.retired_at) for k in keys]
    print_rows("", ["id", "state", "created_at", "retired_at"], rows)


@signing_key.command("rotate")
def signing_key_rotate(as_json: bool = JSON) -> None:
    """Retire the active signing key and sign new packages with a new one. Audited."""
    with client() as c:
        key = c.registry.rotate_signing_key()
    print_json(key) if as_json else say(f"signing key {key.id} is now active")


@signing_key.command("sign-missing")
def signing_key_sign_missing(as_json: bool = JSON) -> None:
    """Sign the packages stored before packages were signed (the server also does this as it
    starts). Audited."""
    with client() as c:
        done = c.registry.sign_missing_packages()
    print_json(done) if as_json else say(f"signed {done.signed} packages")


maintenance.add_typer(signing_key, name="signing-key")


@maintenance.command("gc-blobs")
def gc_blobs(
    dry_run: bool = typer.Option(False, "--dry-run", help="Report, but delete nothing."),
    grace_s: float = typer.Option(
        3600.0, "--grace-s", min=0, help="Keep blobs written or reused this recently (seconds)."
    ),
    as_json: bool = JSON,
) -> None:
    """Delete blobs that nothing references any more (deleted dataset versions, replaced
    artifacts...), once they are older than the grace period.

    Opens the home's metadata and blob stores directly, like `corridor keys rotate`: run it
    where the server runs. Writes an audit event unless --dry-run.
    """
    from dataclasses import asdict

    from corridor.config import Settings
    from corridor.home import require_initialised
    from corridor.runtime import Runtime
    from corridor.security.audit import AuditEntry, append
    from corridor.security.policy import LOCAL_ADMIN_NAME
    from corridor.slices import reference_sources
    from corridor.store.blob_sweep import sweep
    from corridor.store.staging_sweep import staging_root

    settings = Settings()
    require_initialised(settings)
    runtime = Runtime(settings)
    try:
        report = sweep(
            runtime.db,
            runtime.blobs,
            sources=reference_sources(),
            grace_s=grace_s,
            dry_run=dry_run,
            staging=staging_root(settings.home),
        )
        counts = asdict(report)
        if not dry_run:
            detail = {k: v for k, v in counts.items() if k != "deleted_digests"}
            entry = AuditEntry(
                LOCAL_ADMIN_NAME, "blobs.gc", runtime.blobs.raw.url, "ok", detail=detail
            )
            append(runtime.db, entry)
    finally:
        runtime.close()
    if as_json:
        print_json(counts)
        return
    verb, freed = ("would delete", "to free") if dry_run else ("deleted", "freed")
    say(
        f"{report.stored} blobs: {report.referenced} referenced, {report.recent} unreferenced but "
        f"used within {grace_s:g} s (kept); {verb} {report.deleted} "
        f"({report.freed_bytes:,} bytes {freed})"
    )
    if report.leftovers:
        say(f"{verb} {report.leftovers} data keys and markers left behind by deleted blobs")
    if report.temporaries or report.workspaces:
        say(
            f"{verb} {report.temporaries} unfinished blob writes and {report.workspaces} "
            f"staging workspaces of stopped processes "
            f"({report.temporary_bytes + report.workspace_bytes:,} bytes)"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(users, name="users")
    app.add_typer(tokens, name="tokens")
    app.add_typer(projects, name="projects")
    app.add_typer(roles, name="roles")
    app.add_typer(audit, name="audit")
    app.add_typer(maintenance, name="admin")
