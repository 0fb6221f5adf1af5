"""A model package held in memory (its files, flavour, entry and signature), and its
registration through the client: written to a temporary folder, uploaded, registered, and
pointed at by an alias if one is asked for. Never a pickle: the builders that make these
(`corridor.training.sklearn`) write skops or ONNX."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from corridor.client.client import Client
from corridor.registry.manifest import Scope, Signature, check_package_path
from corridor.registry.schemas import ModelVersionOut


@dataclass(frozen=True)
class ModelFiles:
    """The files of a package by relative path, and what the manifest says about them."""

    files: Mapping[str, bytes]
    flavour: str
    entry: str
    signature: Signature | None = None
    requirements: tuple[str, ...] = field(default=())

    def write(self, folder: Path) -> None:
        for rel, data in self.files.items():
            target = folder / check_package_path(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def register_files(
    client: Client,
    name: str,
    model: ModelFiles,
    *,
    project: str,
    alias: str | None = None,
    metrics: Mapping[str, float] | None = None,
    source_run: str | None = None,
    dataset_versions: Sequence[str] = (),
    scope: Scope | str = Scope.GENERAL,
    derived_from: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> ModelVersionOut:
    """Register ``model`` as the next version of ``name`` in ``project`` (the model is made if
    missing); set ``alias`` to it if given."""
    with tempfile.TemporaryDirectory(prefix="corridor-package-") as folder:
        model.write(Path(folder))
        version = client.registry.register_model(
            name,
            folder,
            flavour=model.flavour,
            project=project,
            entry=model.entry,
            signature=model.signature,
            requirements=model.requirements,
            metrics={k: v for k, v in (metrics or {}).items() if v == v and abs(v) != float("inf")},
            source_run=source_run,
            dataset_versions=dataset_versions,
            scope=scope,
            derived_from=derived_from,
            description=description,
            tags=tags,
        )
    if alias is not None:
        version = client.registry.set_alias(
            version.name, alias, version.version, project=version.project
        )
    return version
