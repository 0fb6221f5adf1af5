"""The tracking run a training helper logs to: its project (``default`` made on first use, as
jobs and runs do), its experiment (made if missing), its params, and how it ended."""

from __future__ import annotations

from collections.abc import Mapping

from corridor.client.client import Client
from corridor.client.default_project import DEFAULT_PROJECT as DEFAULT_PROJECT
from corridor.client.default_project import ensure_default_project
from corridor.tracking.entities import MetricPoint
from corridor.tracking.validation import (
    MAX_KEY_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_PARAMS_PER_BATCH,
    now_ms,
)


def ensure_project(client: Client, project: str) -> None:
    """Make the project ``default`` if it is missing; any other project must exist."""
    if project == DEFAULT_PROJECT:
        ensure_default_project(client)


def start_run(
    client: Client,
    project: str,
    experiment: str,
    *,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """A new run in ``experiment`` of ``project`` (both made if needed); its id."""
    ensure_project(client, project)
    found = client.create_experiment(project, experiment, exist_ok=True)
    run = client.create_run(project, found.experiment_id, run_name=run_name, tags=tags)
    return run.info.run_id


def log_params(client: Client, run_id: str, params: Mapping[str, str]) -> None:
    """Log ``params`` in as many batches as the limit per batch needs; values past the length
    limit are cut (and end in ``...``), keys past it are left out."""
    items = [
        (k, v if len(v) <= MAX_PARAM_VALUE_LENGTH else v[: MAX_PARAM_VALUE_LENGTH - 3] + "...")
        for k, v in params.items()
        if len(k) <= MAX_KEY_LENGTH
    ]
    for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])


def log_metrics(
    client: Client, run_id: str, metrics: Mapping[str, float], *, step: int = 0
) -> None:
    stamp = now_ms()
    points = [MetricPoint(k, float(v), stamp, step) for k, v in metrics.items()]
    client.log_metrics_batched(run_id, points)


def end_run(client: Client, run_id: str, status: str) -> None:
    """``FINISHED``, ``FAILED`` or ``KILLED``."""
    client.update_run(run_id, status=status, end_time=now_ms())
