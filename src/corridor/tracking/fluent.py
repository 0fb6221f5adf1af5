"""The tracking SDK's module-level API: ``corridor.start_run()``, ``corridor.log_metric()``...

``start_run`` opens a run (a context manager: FAILED if its block raises, FINISHED otherwise)
and makes it the active run the other functions log to. Params and tags are sent at once, so a
refused value raises where it was logged; metric points are queued and sent in batches by a
background thread, flushed by ``end_run`` and when the interpreter exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from corridor.errors import AlreadyExists, Conflict, NotFound, PayloadTooLarge
from corridor.tracking.entities import MetricPoint
from corridor.tracking.metric_buffer import MetricBuffer
from corridor.tracking.validation import now_ms

if TYPE_CHECKING:
    from corridor.client.client import Client
    from corridor.tracking.schemas import ExperimentOut, FileInfoOut, RunOut

DEFAULT_PROJECT = "default"
DEFAULT_EXPERIMENT = "Default"

_lock = threading.RLock()
_stack: list[ActiveRun] = []
_default_client: Client | None = None


class ActiveRun:
    """A run started by `start_run`; use it as a context manager to end it."""

    def __init__(self, client: Client, run: RunOut, project: str) -> None:
        self.client = client
        self.run_id = run.info.run_id
        self.experiment_id = run.info.experiment_id
        self.project = project
        self.info = run.info
        self.metrics = MetricBuffer(self._send)

    def _send(self, points: list[MetricPoint]) -> None:
        try:
            self.client.log_batch(self.run_id, metrics=points)
        except PayloadTooLarge:
            # A server with a small body limit: halve the batch (points are idempotent).
            if len(points) == 1:
                raise
            half = len(points) // 2
            self._send(points[:half])
            self._send(points[half:])

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        end_run("FINISHED" if exc_type is None else "FAILED", run=self)


def _client(client: Client | None) -> Client:
    global _default_client
    if client is not None:
        return client
    with _lock:
        if _default_client is None:
            from corridor.client.client import Client

            _default_client = Client()
        return _default_client


def _experiment(client: Client, project: str, name: str) -> ExperimentOut:
    try:
        return client.create_experiment(project, name, exist_ok=True)
    except NotFound:
        if project != DEFAULT_PROJECT:
            raise
    # The project for experiments that name no other is made on first use; whoever makes it
    # becomes its admin (on a shared server, an administrator makes it and grants roles).
    with contextlib.suppress(AlreadyExists):
        client.create_project(DEFAULT_PROJECT, description="Experiments of no other project.")
    try:
        return client.create_experiment(project, name, exist_ok=True)
    except NotFound:
        raise NotFound(
            f"you have no role in project {DEFAULT_PROJECT!r}: ask an administrator for one, "
            "or pass project= to start_run"
        ) from None


def start_run(
    experiment: str | None = None,
    *,
    run_name: str | None = None,
    project: str | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
    client: Client | None = None,
) -> ActiveRun:
    """Start a run in ``experiment`` of ``project`` (created if missing) and make it active.

    Without a project, the project ``default``; without an experiment, ``Default`` (the
    experiment ``"0"`` in ``default``). ``client`` defaults to ``corridor.Client()``, which
    follows ``CORRIDOR_URL``/``CORRIDOR_TOKEN`` or a saved login, else the local home.
    """
    project = project or DEFAULT_PROJECT
    with _lock:
        if _stack and not nested:
            raise Conflict(f"run {_stack[-1].run_id} is active: end it first, or pass nested=True")
        http = _client(client)
        exp = _experiment(http, project, experiment or DEFAULT_EXPERIMENT)
        run = http.create_run(project, exp.experiment_id, run_name=run_name, tags=tags)
        active = ActiveRun(http, run, project)
        _stack.append(active)
        return active


def active_run() -> ActiveRun | None:
    """The run the logging functions write to, or None."""
    with _lock:
        return _stack[-1] if _stack else None


def _active() -> ActiveRun:
    run = active_run()
    if run is None:
        raise Conflict("no active run: call corridor.start_run() first")
    return run


def end_run(status: str = "FINISHED", *, run: ActiveRun | None = None) -> None:
    """Send the queued metrics, then end the active run (or ``run``) with ``status``."""
    with _lock:
        target = run or active_run()
        if target is None:
            return
        if target in _stack:
            _stack.remove(target)
    try:
        target.metrics.close()
    finally:
        target.client.update_run(target.run_id, status=status, end_time=now_ms())


def log_param(key: str, value: object) -> None:
    """Log a param of the active run; the value is stored as its ``str()``, as MLflow does."""
    run = _active()
    run.client.log_param(run.run_id, key, value)


def log_params(params: Mapping[str, object]) -> None:
    run = _active()
    items = list(params.items())
    for i in range(0, len(items), 100):
        run.client.log_batch(run.run_id, params=items[i : i + 100])


def set_tag(key: str, value: object) -> None:
    """Set a tag of the active run; the value is stored as its ``str()``, as MLflow does."""
    run = _active()
    run.client.set_tag(run.run_id, key, value)


def set_tags(tags: Mapping[str, object]) -> None:
    run = _active()
    items = list(tags.items())
    for i in range(0, len(items), 100):
        run.client.log_batch(run.run_id, tags=items[i : i + 100])


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: int | None = None
) -> None:
    """Queue one point (step 0 and the current time unless given); sent in the background."""
    point = MetricPoint(key, value, now_ms() if timestamp is None else timestamp, step or 0)
    _active().metrics.add([point])


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    timestamp = now_ms()
    points = [MetricPoint(k, v, timestamp, step or 0) for k, v in metrics.items()]
    _active().metrics.add(points)


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None
) -> FileInfoOut:
    """Upload a local file into the active run (under the folder ``artifact_path``)."""
    run = _active()
    return run.client.log_artifact(run.run_id, local_path, artifact_path)


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None
) -> list[FileInfoOut]:
    """Upload every file under a local folder into the active run, keeping its layout."""
    run = _active()
    return run.client.log_artifacts(run.run_id, local_dir, artifact_path)


def flush() -> None:
    """Wait until the active run's queued metrics are stored."""
    _active().metrics.flush()


@atexit.register
def _end_runs_at_exit() -> None:
    while (run := active_run()) is not None:
        try:
            end_run("FINISHED", run=run)
        except Exception as exc:  # the interpreter is going away; say what was lost
            sys.stderr.write(f"corridor: could not end run {run.run_id} at exit: {exc}\n")
