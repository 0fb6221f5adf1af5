"""Model references of a deploy, resolved to the versions a revision serves.

A reference (``mlp@production``, ``mlp@3``, ``models:/mlp/3``) is parsed as every client parses
it (`corridor.registry.model_refs`) and resolved through the registry's service, in the
deploying transaction, to a version number: a revision names exactly what it serves. A bare
name (no ``/``) deployed into a project other than ``default`` is that project's model (``mlp``
in ``shop`` is ``shop/mlp``), as the registry names models created through a project. A model of
another project is reported exactly as a missing one. A version is served only if it is ready,
has a Corridor package, and its flavour has a runtime that loads it without unpickling.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from corridor.errors import InvalidInput, NotFound
from corridor.registry import service as registry
from corridor.registry.flavours import is_pickle_based
from corridor.registry.model_refs import ModelRef, parse_model_ref
from corridor.registry.validation import VersionStatus
from corridor.security.models import Project
from corridor.security.projects import qualified_name
from corridor.serving.runtimes.registry import servable_flavours
from corridor.serving.spec import DeploymentSpec


@dataclass(frozen=True)
class ResolvedVersion:
    model: str  # the registered model's full name
    version: int
    version_id: str  # the version's row id (lineage's node id)
    ref: str  # the reference as given, for people


def check_servable(model: str, version: int, flavour: str | None) -> None:
    """`InvalidInput` unless a runtime can serve ``flavour`` without unpickling."""
    known = servable_flavours()  # the runtimes' table: what a replica can load
    label = f"version {version} of {model!r}"
    if flavour is None:
        raise InvalidInput(f"{label} has no flavour, so no runtime can serve it")
    if flavour in known:
        return
    if is_pickle_based(flavour):
        raise InvalidInput(
            f"{label} is a {flavour!r} model, which loads by unpickling; the server never "
            "unpickles to serve. Register it as torch (safetensors), onnx, skops or a python "
            "function package and deploy that version"
        )
    raise InvalidInput(
        f"{label} is a {flavour!r} model, which no serving runtime loads; servable "
        f"flavours: {', '.join(sorted(known))}"
    )


def resolve(session: Session, project: Project, text: str) -> ResolvedVersion:
    """The ready, servable version ``text`` names in ``project``.

    `InvalidInput` for a reference that does not parse or a version that cannot be served;
    `NotFound` for a model, version or alias that is not there (or lives in another project).
    """
    ref = parse_model_ref(text)
    name = ref.name if "/" in ref.name else qualified_name(project.name, ref.name)
    uri = ModelRef(name, ref.version, ref.alias, ref.stage).uri
    try:
        record = registry.resolve_model_uri(session, uri, project_id=project.id)
    except NotFound as exc:
        where = f"model reference {text!r} in project {project.name!r}"
        raise NotFound(f"{where}: {exc.message}") from None
    if record.status != VersionStatus.READY:
        raise InvalidInput(
            f"version {record.version} of {record.name!r} is {record.status}; only a ready "
            "version can be deployed"
        )
    if record.package_digest is None:
        raise InvalidInput(
            f"version {record.version} of {record.name!r} has no Corridor package (it names "
            "a source only); register it as a package to deploy it"
        )
    check_servable(record.name, record.version, record.flavour)
    return ResolvedVersion(record.name, record.version, record.id, text)


def still_served(session: Session, project: Project, spec: DeploymentSpec) -> list[ResolvedVersion]:
    """The versions ``spec`` serves or shadows, each checked again (a version deleted or
    moved since the spec was written is refused, as a new deploy of it would be)."""
    named = [(r.model, r.version) for r in spec.routes]
    if spec.shadow is not None:
        named.append((spec.shadow.model, spec.shadow.version))
    return [resolve(session, project, f"{model}@{version}") for model, version in named]
