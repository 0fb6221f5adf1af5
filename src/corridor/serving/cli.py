"""`corridor deploy`, `corridor deployments ls|show|scale|rollback|delete`, and
`corridor serve` (`corridor.serving.serve_cli`).

Models are named by reference (``mlp@production``, ``mlp@3``); a deployment answers at
``/v2/models/NAME/infer`` on the server's address once a replica is up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from corridor.console import print_json, print_rows, say
from corridor.errors import InvalidInput

if TYPE_CHECKING:
    from corridor.client.client import Client
    from corridor.serving.schemas import DeploymentOut

JSON = typer.Option(False, "--json", help="Print JSON instead of text.")
PROJECT = typer.Option(None, "--project", "-p", help="The project (default: the deployment's own).")
deployments = typer.Typer(
    help="List, show, scale, roll back and delete deployments.", no_args_is_help=True
)


def _client() -> Client:
    from corridor.client.client import Client

    return Client()


def _share(text: str, option: str) -> tuple[str, float]:
    """``M@alias:PCT`` as (reference, percent)."""
    ref, sep, pct = text.rpartition(":")
    try:
        if not sep or not ref:
            raise ValueError
        return ref, float(pct)
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r}: write MODEL@ALIAS:PERCENT, e.g. mlp@candidate:10"
        ) from None


def _graph(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"--graph {path}: not a readable JSON file ({exc})") from None
    if not isinstance(found, dict):
        raise InvalidInput(f"--graph {path}: the file must hold one JSON object")
    return found


def _routes(d: DeploymentOut) -> str:
    if d.spec.graph is not None:
        return f"graph ({d.spec.graph.kind})"
    return ", ".join(f"{r.model}@{r.version} {r.weight:g}%" for r in d.spec.routes)


def _replicas(d: DeploymentOut) -> str:
    a = d.spec.autoscaling
    return str(d.spec.replicas) if a is None else f"{a.min_replicas}-{a.max_replicas} (auto)"


def _describe(d: DeploymentOut) -> None:
    say(f"{d.name} (project {d.project}), revision {d.revision}: {d.status}")
    if d.message:
        say(f"  {d.message}")
    say(f"  serves   {_routes(d)}")
    if d.spec.shadow is not None:
        s = d.spec.shadow
        say(f"  shadow   {s.model}@{s.version} {s.percent:g}% (answers recorded, not returned)")
    if d.spec.graph is not None:
        say(f"  graph    {d.spec.graph.model_dump_json()}")
    say(f"  replicas {_replicas(d)}, placement {d.spec.placement.kind}")
    say(f"  infer    POST {d.paths.infer}")
    say(f"  ready    GET  {d.paths.ready}")


def deploy(
    name: str = typer.Argument(..., help="The deployment's name: the model name in the URL."),
    model: str = typer.Option(None, "--model", "-m", help="The model to serve: M@alias or M@N."),
    replicas: int = typer.Option(1, "--replicas", min=0, max=256, help="Replicas to run."),
    site: str = typer.Option(None, "--site", help="The compute site to run replicas on."),
    canary: list[str] = typer.Option(
        None, "--canary", help="M@alias:PCT: send PCT% of requests there (repeatable)."
    ),
    shadow: str = typer.Option(
        None, "--shadow", help="M@N:PCT: mirror PCT% of requests there, answers discarded."
    ),
    sticky_header: str = typer.Option(
        None,
        "--sticky-header",
        help="Requests with the same value of this header go to the same version.",
    ),
    max_batch_size: int = typer.Option(None, "--max-batch-size", min=1, max=4096),
    max_queue_delay_ms: float = typer.Option(None, "--max-queue-delay-ms", min=0),
    min_replicas: int = typer.Option(None, "--min-replicas", min=0, help="Autoscaling floor."),
    max_replicas: int = typer.Option(None, "--max-replicas", min=1, help="Autoscaling ceiling."),
    target_concurrency: float = typer.Option(
        None, "--target-concurrency", help="Autoscaling: requests in flight per replica."
    ),
    placement: str = typer.Option(
        "auto", "--placement", help="auto, inprocess, process or ray: where replicas run."
    ),
    project: str = typer.Option(
        None, "--project", "-p", help="The project (default: the model's, else default)."
    ),
    graph: Path = typer.Option(
        None, "--graph", help="A JSON file: a sequence, ensemble or switch over deployments."
    ),
    as_json: bool = JSON,
) -> None:
    """Deploy a model (or a graph of deployments) as NAME, or redeploy NAME as a new revision.

    It answers at /v2/models/NAME/infer once a replica is up; this returns before that.
    """
    batching: dict[str, Any] | None = None
    if max_batch_size is not None or max_queue_delay_ms is not None:
        batching = {}
        if max_batch_size is not None:
            batching["max_batch_size"] = max_batch_size
        if max_queue_delay_ms is not None:
            batching["max_queue_delay_ms"] = max_queue_delay_ms
    autoscaling: dict[str, Any] | None = None
    if min_replicas is not None or max_replicas is not None or target_concurrency is not None:
        autoscaling = {"min_replicas": 1 if min_replicas is None else min_replicas}
        autoscaling["max_replicas"] = max(max_replicas or replicas, autoscaling["min_replicas"], 1)
        if target_concurrency is not None:
            autoscaling["target_concurrency"] = target_concurrency
    with _client() as c:
        done = c.serving.deploy(
            name,
            model,
            project=project,
            replicas=replicas,
            site=site,
            canary=[_share(x, "--canary") for x in canary or []],
            shadow=None if shadow is None else _share(shadow, "--shadow"),
            sticky_header=sticky_header,
            batching=batching,
            autoscaling=autoscaling,
            placement={"kind": placement},
            graph=_graph(graph),
        )
    if as_json:
        print_json(done)
        return
    _describe(done)


@deployments.command("ls")
def deployments_ls(
    project: str = typer.Option(
        None, "--project", "-p", help="Only this project's (default: every one you can read)."
    ),
    as_json: bool = JSON,
) -> None:
    """List deployments, with what each serves and where it answers."""
    with _client() as c:
        found = c.serving.list(project)
    if as_json:
        print_json(found)
        return
    rows = [
        (d.name, d.project, d.revision, d.status, _routes(d), _replicas(d), d.paths.infer)
        for d in found
    ]
    columns = ["name", "project", "revision", "status", "serves", "replicas", "infer"]
    print_rows("", columns, rows)


@deployments.command("show")
def deployments_show(name: str, project: str = PROJECT, as_json: bool = JSON) -> None:
    """Show a deployment: what it serves, its status, paths and revisions."""
    with _client() as c:
        found = c.serving.show(name, project=project)
    if as_json:
        print_json(found)
        return
    _describe(found)
    rows = [
        (
            "*" if r.current else "",
            r.revision,
            r.reason,
            r.created_by,
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
        )
        for r in found.revisions or []
    ]
    print_rows("revisions", ["", "revision", "reason", "by", "created"], rows)


@deployments.command("scale")
def deployments_scale(
    name: str,
    replicas: int = typer.Option(None, "--replicas", min=0, max=256, help="A fixed count."),
    min_replicas: int = typer.Option(None, "--min-replicas", min=0, max=256),
    max_replicas: int = typer.Option(None, "--max-replicas", min=1, max=256),
    target_concurrency: float = typer.Option(None, "--target-concurrency"),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Run a fixed number of replicas (autoscaling off), or set autoscaling bounds."""
    with _client() as c:
        done = c.serving.scale(
            name,
            replicas,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            target_concurrency=target_concurrency,
            project=project,
        )
    if as_json:
        print_json(done)
    else:
        say(f"{done.name}: revision {done.revision}, replicas {_replicas(done)}")


@deployments.command("rollback")
def deployments_rollback(
    name: str,
    to_revision: int = typer.Option(
        None, "--to", min=1, help="The revision to serve again (default: the one before)."
    ),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Serve an earlier revision again, at once (as a new revision)."""
    with _client() as c:
        done = c.serving.rollback(name, to_revision=to_revision, project=project)
    if as_json:
        print_json(done)
    else:
        say(f"{done.name}: revision {done.revision} serves {_routes(done)}")


@deployments.command("delete")
def deployments_delete(name: str, project: str = PROJECT) -> None:
    """Stop serving NAME and delete it with its revisions."""
    with _client() as c:
        c.serving.delete(name, project=project)
    say(f"deleted deployment {name}")


def register(app: typer.Typer) -> None:
    """Add the serving commands to ``app``."""
    from corridor.serving.serve_cli import serve

    app.command("deploy")(deploy)
    app.command("serve")(serve)
    app.add_typer(deployments, name="deployments")
