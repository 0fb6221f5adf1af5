"""The trainer's compute job: ``corridor.training.torch.job:train``, run on every rank.

Installed with Corridor, so the job names it by reference like any function; the user's
factories come from the job's code snapshot (its work directory). The one argument is the
spec's JSON; a dataset version arrives as the second, already read (``DatasetInput``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The optimisers and DDP import torch._dynamo on first use (one to three seconds). Imported
# with this module instead, so that a site preloading this module (`preload =
# ["corridor.training.torch.job"]`) has done all of the job's imports before it starts.
import torch._dynamo  # noqa: F401

from corridor.training.torch import data as training_data
from corridor.training.torch import loop, parts
from corridor.training.torch.job_link import JobLink
from corridor.training.torch.spec import TrainSpec


def train(spec: dict[str, Any], dataset: object = None) -> dict[str, Any] | None:
    """Run the training ``spec`` describes; rank 0 returns weights and metrics."""
    parsed = TrainSpec.from_json(spec)
    workdir = Path.cwd()
    features, labels = load_data(parsed, dataset, workdir)
    return loop.run(parsed, features, labels, link=JobLink(), workdir=workdir)


def load_data(spec: TrainSpec, dataset: object, workdir: Path) -> Any:
    """``(features, labels)`` from the data factory, or from the dataset version's table."""
    if spec.data.dataset is not None:
        assert spec.data.label is not None
        return training_data.from_table(
            dataset, spec.data.features, spec.data.label, f"dataset {spec.data.dataset}"
        )
    assert spec.data.ref is not None
    factory = parts.load_ref(spec.data.ref, workdir)
    source = f"the data factory {spec.data.ref}"
    try:
        produced = factory(**spec.data.kwargs)
    except Exception as exc:
        raise RuntimeError(f"{source} raised {type(exc).__name__}: {exc}") from exc
    return training_data.as_tensors(produced, source)
