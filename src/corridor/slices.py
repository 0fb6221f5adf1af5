"""The one table of slices: what each slice contributes to the server, the CLI, the schema and
the blob sweep. Adding a slice is its folder plus one `Slice` line in `SLICES`.

The app factory mounts the routers and body-limit exemptions and runs the lifespan hooks, the
error handlers pick the error shapes, the `corridor` command registers the command groups, the
migration tests compare `metadata()` with the schema, and `corridor admin gc-blobs` sweeps
around `reference_sources()`. Every part is named by import path (``"module:attribute"``), as
Metaflow's plugin table names its plugins: reading the table imports nothing, so the CLI starts
without loading the server and the store never imports a slice (this module sits above both).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from corridor.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from corridor.runtime import Runtime
    from corridor.store.blobs.references import ReferenceSource

LifespanHook = Callable[["Runtime"], AbstractAsyncContextManager[None]]
"""Start a slice's background work on entry and stop it, cleanly, on exit."""


@dataclass(frozen=True)
class ErrorShape:
    """Routes under ``prefixes`` (a tuple of path prefixes) answer errors as ``render`` does
    (``(request, status, code, message) -> response``), for clients of another API."""

    prefixes: str
    render: str


@dataclass(frozen=True)
class Slice:
    """One slice's parts, each an import path ``"module:attribute"`` (``models``: a module)."""

    name: str
    routers: tuple[str, ...] = ()
    # Path prefixes (a str or a tuple of them) whose request bodies stream at any size; a
    # prefix holding ``{}`` is a whole path instead, each ``{}`` standing for one segment.
    unlimited_body: tuple[str, ...] = ()
    error_shape: ErrorShape | None = None
    # ``register(app: typer.Typer)``, adding the slice's command groups.
    cli: str | None = None
    # The module of the slice's ORM tables, on `corridor.store.base.Base`'s metadata.
    models: str | None = None
    # ``() -> [Select]``: the queries of the blob digests the slice references.
    blob_references: str | None = None
    # A `LifespanHook`, run by the server (not by the in-process transport).
    lifespan: str | None = None
    # ``(app: ASGIApp, runtime: Runtime) -> ASGIApp``: a front door that sees every request
    # before the server's middleware and answers its own paths (the serving gateway's lean
    # hot path); it passes every other request, and lifespan events, to ``app``.
    front: str | None = None


SLICES: tuple[Slice, ...] = (
    Slice("ops", routers=("corridor.server.ops:router",)),
    # Shared by every slice that links things (no routes of its own): its one table.
    Slice("lineage", models="corridor.lineage.models"),
    Slice(
        "security",
        routers=("corridor.security.api:router",),
        models="corridor.security.models",
    ),
    # Package signing keys (the security core's) and the signatures the registry stores; their
    # routes are the registry's (`corridor.registry.api_signatures`).
    Slice(
        "signing",
        models="corridor.security.signing_models",
        blob_references="corridor.security.signing_keys:referenced_blobs",
    ),
    Slice(
        "tracking",
        routers=("corridor.tracking.api:router", "corridor.tracking.artifacts_api:router"),
        unlimited_body=("corridor.tracking.artifacts_api:UNLIMITED_BODY_PREFIX",),
        cli="corridor.tracking.cli:register",
        models="corridor.tracking.models",
        blob_references="corridor.tracking.artifacts:referenced_blobs",
    ),
    Slice(
        "mlflow_compat",
        routers=("corridor.mlflow_compat.api:router",),
        unlimited_body=("corridor.mlflow_compat.api:UNLIMITED_BODY_PREFIXES",),
        error_shape=ErrorShape(
            prefixes="corridor.mlflow_compat.errors:PATH_PREFIXES",
            render="corridor.mlflow_compat.errors:render",
        ),
    ),
    Slice(
        "registry",
        routers=("corridor.registry.api:router",),
        unlimited_body=("corridor.registry.api_packages:UPLOAD_PREFIX",),
        cli="corridor.registry.cli:register",
        models="corridor.registry.models",
        blob_references="corridor.registry.uploads:referenced_blobs",
        lifespan="corridor.registry.signatures:signing_at_start",
    ),
    Slice(
        "data",
        routers=("corridor.data.api:router",),
        unlimited_body=("corridor.data.api:UPLOAD_PREFIX",),
        cli="corridor.data.cli:register",
        models="corridor.data.models",
        blob_references="corridor.data.datasets:referenced_blobs",
    ),
    Slice(
        "compute",
        routers=(
            "corridor.compute.api:router",
            "corridor.compute.snapshot_uploads:router",
            "corridor.compute.worker_api:router",
        ),
        unlimited_body=(
            "corridor.compute.snapshot_uploads:UPLOAD_PREFIX",
            "corridor.compute.worker_api:CHECKPOINT_PATH",
        ),
        cli="corridor.compute.cli:register",
        models="corridor.compute.models",
        blob_references="corridor.compute.jobs:referenced_blobs",
        lifespan="corridor.compute.scheduler_loop:running",
    ),
    Slice(
        "training",
        routers=("corridor.training.api:router",),
        cli="corridor.training.cli:register",
        models="corridor.training.models",
    ),
    Slice(
        "pipelines",
        routers=(
            "corridor.pipelines.api:router",
            "corridor.pipelines.api_runs:router",
            "corridor.pipelines.api_automation:router",
        ),
        cli="corridor.pipelines.cli:register",
        models="corridor.pipelines.models",
        blob_references="corridor.pipelines.step_runs:referenced_blobs",
        lifespan="corridor.pipelines.loop:running",
    ),
    Slice(
        "serving",
        routers=("corridor.serving.api:router", "corridor.serving.api_drift:router"),
        cli="corridor.serving.cli:register",
        models="corridor.serving.models",
        lifespan="corridor.serving.controller:serving",
        front="corridor.serving.gateway.front:front",
    ),
)


def load(path: str, *, what: str) -> object:
    """Import what ``path`` (``"module:attribute"``, or ``"module"``) names.

    A path that does not resolve is a `ConfigurationError` naming ``what`` it was for.
    """
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the named module's own absence is the table's fault; a module missing deeper
        # down is a bug in the slice, and keeps its traceback.
        if exc.name is None or not f"{module_name}.".startswith(f"{exc.name}."):
            raise
        raise ConfigurationError(f"{what} ({path}) cannot be loaded: {exc}") from None
    if not attribute:
        return module
    try:
        found: object = getattr(module, attribute)
    except AttributeError as exc:
        raise ConfigurationError(f"{what} ({path}) cannot be loaded: {exc}") from None
    return found


def load_prefixes(path: str, *, what: str) -> tuple[str, ...]:
    """Load a path prefix or a tuple of them as a tuple."""
    found = load(path, what=what)
    if isinstance(found, str):
        return (found,)
    if isinstance(found, tuple) and all(isinstance(p, str) for p in found):
        return cast(tuple[str, ...], found)
    raise ConfigurationError(f"{what} ({path}) is not a path prefix or a tuple of them")


def load_callable(path: str, *, what: str) -> Callable[..., object]:
    found = load(path, what=what)
    if not callable(found):
        raise ConfigurationError(f"{what} ({path}) is not callable")
    return cast(Callable[..., object], found)


def fronts(slices: Sequence[Slice] = SLICES) -> list[tuple[str, Callable[..., object]]]:
    """Each slice's front door factory, by slice name, in table order."""
    return [
        (s.name, load_callable(s.front, what=f"slice {s.name!r}'s front"))
        for s in slices
        if s.front is not None
    ]


def unlimited_body_prefixes(slices: Sequence[Slice] = SLICES) -> tuple[str, ...]:
    """Every path prefix whose request bodies are exempt from the body limit."""
    return tuple(
        prefix
        for s in slices
        for path in s.unlimited_body
        for prefix in load_prefixes(path, what=f"slice {s.name!r}'s unlimited-body prefix")
    )


def metadata(slices: Sequence[Slice] = SLICES) -> MetaData:
    """The metadata holding every slice's tables (what the migrations must build)."""
    from corridor.store.base import Base

    for s in slices:
        if s.models is not None:
            load(s.models, what=f"slice {s.name!r}'s models")
    return Base.metadata


def reference_sources(slices: Sequence[Slice] = SLICES) -> dict[str, ReferenceSource]:
    """Each slice's blob reference source, by slice name: what the blob sweep must keep."""
    return {
        s.name: cast(
            "ReferenceSource",
            load_callable(s.blob_references, what=f"slice {s.name!r}'s blob reference source"),
        )
        for s in slices
        if s.blob_references is not None
    }


def lifespan_hooks(slices: Sequence[Slice] = SLICES) -> list[tuple[str, LifespanHook]]:
    """Each slice's lifespan hook, by slice name, in table order (the order they start)."""
    return [
        (s.name, cast(LifespanHook, load_callable(s.lifespan, what=f"slice {s.name!r}'s lifespan")))
        for s in slices
        if s.lifespan is not None
    ]
