"""``client.tracking``: experiments, runs, params, metrics, tags and artifacts over a client."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from corridor.client.connection import Connection, error_from
from corridor.tracking.entities import MetricPoint
from corridor.tracking.schemas import (
    ArtifactList,
    ExperimentOut,
    ExperimentPage,
    FileInfoOut,
    MetricHistory,
    MetricOut,
    RunOut,
    RunPage,
)
from corridor.tracking.validation import MAX_METRICS_PER_BATCH, now_ms

M = TypeVar("M", bound=BaseModel)
_CHUNK_BYTES = 1024 * 1024
# Values are sent as their str(): any object is accepted, none is read as anything else.
Pairs = Mapping[str, object] | Iterable[tuple[str, object]]


def _pairs(values: Pairs) -> list[dict[str, str]]:
    items = values.items() if isinstance(values, Mapping) else values
    return [{"key": k, "value": str(v)} for k, v in items]


def _artifact_url(run_id: str, path: str) -> str:
    return f"/api/v1/artifacts/{run_id}/{quote(path, safe='/')}"


class TrackingClient:
    """Tracking calls over a client's connection (``client.tracking`` is one)."""

    def __init__(self, client: Connection) -> None:
        self.client = client

    def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(self.client.request(method, path, **kwargs).json())

    # Experiments.
    def create_experiment(
        self,
        project: str,
        name: str,
        *,
        tags: Mapping[str, str] | None = None,
        exist_ok: bool = False,
    ) -> ExperimentOut:
        """Create an experiment in ``project`` (``exist_ok``: or return the existing one)."""
        body = {"name": name, "tags": dict(tags or {}), "exist_ok": exist_ok}
        return self._model(
            ExperimentOut, "POST", f"/api/v1/projects/{project}/experiments", json=body
        )

    def get_experiment(self, project: str, experiment_id: str) -> ExperimentOut:
        path = f"/api/v1/projects/{project}/experiments/{experiment_id}"
        return self._model(ExperimentOut, "GET", path)

    def search_experiments(
        self,
        project: str,
        *,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        view: str = "ACTIVE_ONLY",
    ) -> ExperimentPage:
        params: dict[str, Any] = {"order_by": list(order_by), "max_results": max_results}
        params["view"] = view
        if filter:
            params["filter"] = filter
        if page_token:
            params["page_token"] = page_token
        path = f"/api/v1/projects/{project}/experiments"
        return self._model(ExperimentPage, "GET", path, params=params)

    def rename_experiment(self, project: str, experiment_id: str, name: str) -> ExperimentOut:
        path = f"/api/v1/projects/{project}/experiments/{experiment_id}"
        return self._model(ExperimentOut, "PATCH", path, json={"name": name})

    def delete_experiment(self, project: str, experiment_id: str) -> None:
        self.client.request("DELETE", f"/api/v1/projects/{project}/experiments/{experiment_id}")

    def restore_experiment(self, project: str, experiment_id: str) -> ExperimentOut:
        path = f"/api/v1/projects/{project}/experiments/{experiment_id}/restore"
        return self._model(ExperimentOut, "POST", path)

    def set_experiment_tag(
        self, project: str, experiment_id: str, key: str, value: str
    ) -> ExperimentOut:
        path = f"/api/v1/projects/{project}/experiments/{experiment_id}/tags"
        return self._model(ExperimentOut, "PUT", path, json={"key": key, "value": value})

    def delete_experiment_tag(self, project: str, experiment_id: str, key: str) -> None:
        path = f"/api/v1/projects/{project}/experiments/{experiment_id}/tags"
        self.client.request("DELETE", path, params={"key": key})

    # Runs.
    def create_run(
        self,
        project: str,
        experiment_id: str,
        *,
        run_name: str | None = None,
        start_time: int | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> RunOut:
        path = f"/api/v1/projects/{project}/experiments/{experiment_id}/runs"
        body = {"run_name": run_name, "start_time": start_time, "tags": dict(tags or {})}
        return self._model(RunOut, "POST", path, json=body)

    def get_run(self, run_id: str) -> RunOut:
        return self._model(RunOut, "GET", f"/api/v1/runs/{run_id}")

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunOut:
        body = {"status": status, "end_time": end_time, "run_name": run_name}
        body = {k: v for k, v in body.items() if v is not None}
        return self._model(RunOut, "PATCH", f"/api/v1/runs/{run_id}", json=body)

    def delete_run(self, run_id: str) -> None:
        self.client.request("DELETE", f"/api/v1/runs/{run_id}")

    def restore_run(self, run_id: str) -> RunOut:
        return self._model(RunOut, "POST", f"/api/v1/runs/{run_id}/restore")

    def search_runs(
        self,
        project: str,
        *,
        experiment_ids: Sequence[str] = (),
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        view: str = "ACTIVE_ONLY",
    ) -> RunPage:
        """Runs of ``project`` (of ``experiment_ids``, or all its experiments) that match."""
        params: dict[str, Any] = {
            "experiment_id": list(experiment_ids),
            "order_by": list(order_by),
            "max_results": max_results,
            "view": view,
        }
        if filter:
            params["filter"] = filter
        if page_token:
            params["page_token"] = page_token
        return self._model(RunPage, "GET", f"/api/v1/projects/{project}/runs", params=params)

    # Logging.
    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Pairs = (),
        tags: Pairs = (),
    ) -> None:
        """Log points, params and tags together: all are stored, or none."""
        body = {
            "metrics": [
                {"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step}
                for m in metrics
            ],
            "params": _pairs(params),
            "tags": _pairs(tags),
        }
        self.client.request("POST", f"/api/v1/runs/{run_id}/batch", json=body)

    def log_metrics_batched(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        """Log any number of points, in as many batches as the limit of 1000 needs."""
        for i in range(0, len(points), MAX_METRICS_PER_BATCH):
            self.log_batch(run_id, metrics=points[i : i + MAX_METRICS_PER_BATCH])

    def log_param(self, run_id: str, key: str, value: object) -> None:
        self.log_batch(run_id, params=[(key, value)])

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        *,
        step: int = 0,
        timestamp: int | None = None,
    ) -> None:
        point = MetricPoint(key, value, now_ms() if timestamp is None else timestamp, step)
        self.log_batch(run_id, metrics=[point])

    def set_tag(self, run_id: str, key: str, value: object) -> None:
        self.log_batch(run_id, tags=[(key, value)])

    def delete_tag(self, run_id: str, key: str) -> None:
        self.client.request("DELETE", f"/api/v1/runs/{run_id}/tags", params={"key": key})

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        *,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> MetricHistory:
        """One page of a metric's points; see `metric_history` for all of them."""
        params: dict[str, Any] = {"key": key}
        if max_results is not None:
            params["max_results"] = max_results
        if page_token:
            params["page_token"] = page_token
        path = f"/api/v1/runs/{run_id}/metrics/history"
        return self._model(MetricHistory, "GET", path, params=params)

    def metric_history(self, run_id: str, key: str) -> list[MetricOut]:
        """Every point of a metric, following page tokens."""
        points: list[MetricOut] = []
        token: str | None = None
        while True:
            page = self.get_metric_history(run_id, key, page_token=token)
            points.extend(page.metrics)
            token = page.next_page_token
            if not token:
                return points

    # Artifacts.
    def upload_artifact(
        self, run_id: str, path: str, source: bytes | BinaryIO | Iterable[bytes]
    ) -> FileInfoOut:
        """Store ``source`` as the run's file ``path`` (streamed; any size)."""
        url = _artifact_url(run_id, path)
        return self._model(FileInfoOut, "PUT", url, content=source)

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> FileInfoOut:
        """Upload a local file into the run, under the folder ``artifact_path`` if given."""
        local = Path(local_path)
        target = f"{artifact_path.strip('/')}/{local.name}" if artifact_path else local.name
        with local.open("rb") as f:
            return self.upload_artifact(run_id, target, f)

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[FileInfoOut]:
        """Upload every file under a local folder, keeping its layout."""
        root = Path(local_dir)
        uploaded = []
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = file.relative_to(root).as_posix()
            target = f"{artifact_path.strip('/')}/{relative}" if artifact_path else relative
            with file.open("rb") as f:
                uploaded.append(self.upload_artifact(run_id, target, f))
        return uploaded

    def list_artifacts(self, run_id: str, path: str = "") -> list[FileInfoOut]:
        listing = self._model(
            ArtifactList, "GET", f"/api/v1/artifacts/{run_id}", params={"path": path}
        )
        return listing.files

    def iter_artifact(self, run_id: str, path: str) -> Iterator[bytes]:
        """The bytes of a run's file, streamed in chunks."""
        with self.client.http.stream("GET", _artifact_url(run_id, path)) as response:
            if response.status_code >= 400:
                response.read()
                raise error_from(response)
            yield from response.iter_bytes(_CHUNK_BYTES)

    def download_artifact(
        self, run_id: str, path: str, destination: str | os.PathLike[str]
    ) -> Path:
        """Write a run's file to ``destination`` (a file path); return it."""
        target = Path(destination)
        with target.open("wb") as f:
            for chunk in self.iter_artifact(run_id, path):
                f.write(chunk)
        return target

    def delete_artifact(self, run_id: str, path: str) -> None:
        self.client.request("DELETE", _artifact_url(run_id, path))
