"""What ``Trainer.fit`` returns: the trained weights, the metrics, the run and the job, and
``register()`` to turn them into a ``torch`` model package in the registry."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from corridor.training.torch.spec import TrainSpec, signature_json

if TYPE_CHECKING:
    from corridor.client.client import Client
    from corridor.registry.schemas import ModelVersionOut


@dataclass
class TrainResult:
    """A finished training job: ``weights`` is the model's state_dict (CPU tensors)."""

    client: Client = field(repr=False)
    project: str
    run_id: str
    job_id: str
    spec: TrainSpec = field(repr=False)
    root: Path = field(repr=False)
    signature: dict[str, Any] | None = field(repr=False)
    weights: dict[str, torch.Tensor] = field(repr=False)
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)

    def model(self) -> torch.nn.Module:
        """The model rebuilt from its factory with the trained weights, in eval mode."""
        from corridor.training.torch import parts

        module = parts.make_model(self.spec, self.root)
        module.load_state_dict(self.weights, strict=True)
        return module.eval()

    def register(
        self,
        name: str,
        *,
        alias: str | None = None,
        signature: Mapping[str, Any] | Any | None = None,
        scope: str = "general",
        derived_from: str | None = None,
        dataset_versions: Sequence[str] | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersionOut:
        """Register the weights as the next version of model ``name`` (flavour ``torch``),
        with the run as its source; ``alias`` then points at it."""
        from corridor.training.packages.torch_package import build_package

        given = signature_json(signature) if signature is not None else self.signature
        datasets = list(dataset_versions) if dataset_versions is not None else (
            [self.spec.data.dataset] if self.spec.data.dataset else []
        )  # fmt: skip
        registry = self.client.registry
        with tempfile.TemporaryDirectory(prefix="corridor-torch-") as folder:
            package = build_package(
                Path(folder),
                self.weights,
                factory=self.spec.model,
                kwargs=self.spec.model_kwargs,
                root=self.root,
            )
            version = registry.register_model(
                name,
                package.folder,
                flavour="torch",
                project=self.project,
                entry=package.entry,
                signature=given,
                requirements=package.requirements,
                metrics=self.metrics,
                source_run=self.run_id,
                dataset_versions=datasets,
                scope=scope,
                derived_from=derived_from,
                description=description,
                tags=tags,
            )
        if alias is not None:
            version = registry.set_alias(name, alias, version.version, project=self.project)
        return version
