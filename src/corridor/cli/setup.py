"""Setting up and running: init, server, quickstart, login, logout and key rotation."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from corridor.console import print_json, say

keys = typer.Typer(help="Manage the master key.", no_args_is_help=True)


def init(
    home: Path = typer.Option(None, "--home", help="Home to create (default $CORRIDOR_HOME)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the admin's UI password from standard input."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a home (database, master key, config) and its first admin; print its token once."""
    from corridor.config import Settings
    from corridor.home import init_home

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    settings = Settings(home=home) if home else Settings()
    result = init_home(settings, admin_password=password or None)
    if as_json:
        print_json(
            {
                "home": str(result.home),
                "admin": result.admin_name,
                "token": result.admin_token,
                "expires_at": result.token_expires_at,
            }
        )
        return
    say(f"initialised {result.home}")
    say(f"admin token for {result.admin_name!r} (shown once; keep it safe):")
    say(result.admin_token)


def server(
    host: str = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", min=0, max=65535, help="Port (default 8660)."),
) -> None:
    """Run the Corridor server in the foreground."""
    from corridor.config import Settings
    from corridor.server.run import serve

    serve(Settings(), host=host, port=port)


def quickstart(
    home: Path = typer.Option(None, "--home", help="Use this home instead of a temporary one."),
    keep: bool = typer.Option(False, "--keep", help="Keep the temporary home afterwards."),
) -> None:
    """Start a fresh Corridor, use each capability once, stop it, and report."""
    from corridor.quickstart import run_quickstart

    run_quickstart(home, keep=keep, say=say)
    say("quickstart finished: everything above worked")


def login(
    url: str = typer.Option(..., "--url", envvar="CORRIDOR_URL", help="Server URL."),
    username: str = typer.Option(None, "--username", help="Log in with a password."),
    token: str = typer.Option(None, "--token", help="Or store this API token."),
    password_stdin: bool = typer.Option(False, "--password-stdin"),
) -> None:
    """Log in to a server and remember the URL and token for later commands."""
    from corridor.client import credentials
    from corridor.client.client import Client
    from corridor.config import Settings

    if (username is None) == (token is None):
        raise typer.BadParameter("give either --username or --token")
    if username is not None:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("password", hide_input=True)
        with Client(url) as anonymous:
            token = anonymous.login(username, password).token
    assert token is not None
    with Client(url, token=token) as client:
        me = client.whoami()
    path = credentials.save(Settings().home, credentials.Credentials(url=url, token=token))
    say(f"logged in to {url} as {me.name}; credentials saved in {path}")


def logout() -> None:
    """Forget the saved server URL and token."""
    from corridor.client import credentials
    from corridor.config import Settings

    forgot = credentials.forget(Settings().home)
    say("logged out" if forgot else "was not logged in")


@keys.command("rotate")
def keys_rotate(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Re-wrap every data key under a new master key (no data is rewritten).

    Safe to re-run after an interruption: it resumes with the same new key.
    """
    from corridor.config import Settings
    from corridor.store.blobs import open_blob_store

    report = open_blob_store(Settings()).rotate_master_key()
    if as_json:
        print_json(
            {
                "old_key_id": report.old_key_id,
                "new_key_id": report.new_key_id,
                "rewrapped": report.rewrapped,
                "already_new": report.already_new,
                "unreadable": report.unreadable,
            }
        )
        return
    say(f"master key {report.old_key_id} replaced by {report.new_key_id}")
    say(f"re-wrapped {report.rewrapped} data keys ({report.already_new} were already re-wrapped)")
    if report.unreadable:
        say(f"{len(report.unreadable)} data keys could not be opened by any key (see --json)")


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(server)
    app.command()(quickstart)
    app.command()(login)
    app.command()(logout)
    app.add_typer(keys, name="keys")
