"""`corridor models ...`: list, show and verify registered models; point aliases at versions.

Commands that take a model take a reference (`corridor.registry.model_refs`): ``mlp``,
``mlp@3``, ``mlp@production`` or a ``models:/`` URI.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from corridor.console import fail, print_json, print_rows, say
from corridor.errors import SignatureInvalid
from corridor.registry.model_refs import parse_model_ref

if TYPE_CHECKING:
    from corridor.client.client import Client

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
PROJECT = typer.Option(
    None, "--project", "-p", help="The project (default: every project you can read)."
)
models = typer.Typer(help="List and show registered models; set aliases.", no_args_is_help=True)


def _client() -> Client:
    from corridor.client.client import Client

    return Client()


def _time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@models.command("ls")
def models_ls(
    project: str = PROJECT,
    filter_string: str = typer.Option("", "--filter", help="e.g. \"name LIKE 'churn/%'\""),
    as_json: bool = JSON,
) -> None:
    """List registered models, with their aliases and newest version."""
    with _client() as c:
        found, token = [], None
        while True:
            page = c.list_models(project, filter=filter_string, page_token=token, max_results=1000)
            found.extend(page.models)
            token = page.next_page_token
            if not token:
                break
    if as_json:
        print_json(found)
        return
    rows = [
        (
            m.name,
            m.project,
            max((v.version for v in m.latest_versions), default=""),
            ", ".join(f"{a}={v}" for a, v in sorted(m.aliases.items())),
            _time(m.last_updated_timestamp),
        )
        for m in found
    ]
    print_rows("", ["name", "project", "latest", "aliases", "updated"], rows)


@models.command("show")
def models_show(ref: str, project: str = PROJECT, as_json: bool = JSON) -> None:
    """Show a model and its versions (REF: mlp for all of them, mlp@3 or mlp@production for
    one)."""
    parsed = parse_model_ref(ref)
    with _client() as c:
        if parsed.version is None and parsed.alias is None and parsed.stage is None:
            model = c.get_model(parsed.name, project=project)
            versions = c.list_model_versions(model.name, project=model.project)
        else:
            one = c.resolve_model(ref, project=project)
            model = c.get_model(one.name, project=one.project)
            versions = [one]
    if as_json:
        versions_json = [v.model_dump(mode="json") for v in versions]
        print_json({**model.model_dump(mode="json"), "versions": versions_json})
        return
    say(f"{model.name} (project {model.project})")
    if model.description:
        say(model.description)
    if model.tags:
        say("tags: " + ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())))
    rows = [
        (
            v.version,
            v.status,
            v.current_stage,
            ", ".join(v.aliases),
            v.flavour,
            v.scope,
            v.derived_from,
            v.run_id,
            _time(v.creation_timestamp),
        )
        for v in versions
    ]
    columns = ["version", "status", "stage", "aliases", "flavour", "scope", "derived from"]
    columns += ["run", "created"]
    print_rows("", columns, rows)


@models.command("alias")
def models_alias(
    name: str,
    alias: str,
    version: int = typer.Argument(..., min=1),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Point ALIAS (production, candidate...) of model NAME at VERSION."""
    with _client() as c:
        moved = c.set_alias(name, alias, version, project=project)
    if as_json:
        print_json(moved)
    else:
        say(f"{moved.name}@{alias} -> version {moved.version}")


@models.command("verify")
def models_verify(
    ref: str,
    project: str = typer.Option(
        None, "--project", "-p", help="The model's project (default: its own, else `default`)."
    ),
    public_key: list[Path] = typer.Option(
        None, "--public-key", help="Trust this PEM public key instead of the server's keys."
    ),
    as_json: bool = JSON,
) -> None:
    """Download REF (mlp@production, mlp@3...) and check its signature; exit 1 if it fails."""
    with _client() as c:
        try:
            verified = c.registry.verify_model(ref, project=project, public_key=public_key or None)
        except SignatureInvalid as exc:
            if as_json:
                print_json({"ok": False, "model": ref, "error": exc.message})
            else:
                fail(f"{ref}: {exc.message}")
            raise typer.Exit(1) from None
    if as_json:
        print_json({"ok": True, "model": ref, "key_id": verified.key_id, "files": verified.files})
    else:
        say(f"OK {ref}: signed by key {verified.key_id}, {verified.files} files verified")


def register(app: typer.Typer) -> None:
    app.add_typer(models, name="models")
