"""``client.pipelines``: run pipelines (driving them from here or on the server), follow and
resume their runs, read their outputs, and automate them with schedules and triggers.

``run`` drives a pipeline from this process: it builds the graph (bad parameters fail here,
before anything is recorded), uploads the code snapshot of the pipeline's folder (once per
project and digest), registers the pipeline, creates the run and executes it with
``corridor.pipelines.driver.runner``. ``start`` and ``retry`` leave the driving to the server, which
runs a driver job over the pipeline's stored snapshot.

A pipeline's folder is the one its module is imported from: the module's file minus its dotted
name (``work/etl/flow.py`` as ``etl.flow`` -> ``work``); ``workdir=`` names another.
"""

from __future__ import annotations

import builtins
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from corridor.compute.sansio import payload
from corridor.errors import InvalidInput
from corridor.pipelines.driver.link import Link
from corridor.pipelines.driver.runner import PipelineFailed, RunResult
from corridor.pipelines.schemas import (
    FailurePolicy,
    MissedPolicy,
    PipelineIn,
    PipelineOut,
    RunOut,
    RunView,
    ScheduleOut,
    TriggerOut,
)

if TYPE_CHECKING:
    from corridor.client.client import Client
    from corridor.pipelines.dsl import Pipeline
    from corridor.pipelines.events import OnEvent

__all__ = ["PipelineFailed", "PipelinesClient", "RunResult"]

ENDED = frozenset({"succeeded", "failed", "cancelled"})
_WAIT_S = 25.0


def pipeline_root(pipeline: Pipeline) -> Path:
    """The folder ``pipeline``'s module is importable from (its file minus its dotted name)."""
    module = sys.modules.get(pipeline.module)
    file = getattr(module, "__file__", None)
    if module is None or file is None or pipeline.module == "__main__":
        raise InvalidInput(
            f"pipeline {pipeline.name!r} is not in an importable module: put it in a file and "
            "run that file (corridor run FILE.py), or pass workdir="
        )
    path = Path(file).resolve()
    parts = pipeline.module.split(".")
    depth = len(parts) if path.name != "__init__.py" else len(parts) + 1
    return path.parents[depth - 1]


class PipelinesClient:
    """Pipeline calls over a client's connection (``client.pipelines`` is one)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def _link(self) -> Link:
        # Runs and their jobs live on the server that runs jobs (a loopback one in process).
        return Link(self.client, send=self.client.compute.request)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.compute.request(method, path, **kwargs)

    def _project(self, project: str | None) -> str:
        return self.client.compute.project_name(project)

    # Defining.
    def register(
        self,
        pipeline: Pipeline,
        *,
        project: str | None = None,
        workdir: str | Path | None = None,
    ) -> PipelineOut:
        """Upload the pipeline's code snapshot and register (or update) it in ``project``."""
        project = self._project(project)
        root = Path(workdir).resolve() if workdir is not None else pipeline_root(pipeline)
        snapshot = self.client.compute.build_snapshot(root)
        if pipeline.module not in snapshot.modules:
            raise InvalidInput(
                f"pipeline {pipeline.name!r} ({pipeline.module}) is not importable from the "
                f"snapshot of {root}: its module is not in it"
            )
        self.client.compute.upload_snapshot(project, snapshot)
        body = PipelineIn(
            name=pipeline.name,
            module=pipeline.module,
            qualname=pipeline.qualname,
            snapshot=snapshot.digest,
            params=pipeline.params,
            description=pipeline.description[:4096],
            on_failure=pipeline.on_failure,
            max_concurrent_runs=pipeline.max_concurrent_runs,
        )
        answer = self._request(
            "POST", f"/api/v1/projects/{project}/pipelines", json=body.model_dump(mode="json")
        )
        return PipelineOut.model_validate(answer.json())

    def list(self, project: str | None = None) -> builtins.list[PipelineOut]:
        answer = self._request("GET", f"/api/v1/projects/{self._project(project)}/pipelines")
        return TypeAdapter(builtins.list[PipelineOut]).validate_python(answer.json())

    # Running.
    def run(
        self,
        pipeline: Pipeline | str | Path,
        params: dict[str, Any] | None = None,
        *,
        project: str | None = None,
        site: str | None = None,
        no_cache: bool = False,
        on_failure: FailurePolicy | None = None,
        on_event: OnEvent | None = None,
        workdir: str | Path | None = None,
        max_parallel: int | None = None,
        trigger: str = "sdk",
    ) -> RunResult:
        """Run ``pipeline`` (a ``@pipeline`` or a pipeline file) driven from this process.

        Returns the run as it ended and the pipeline's value (None unless it succeeded;
        ``value_or_raise()`` raises ``PipelineFailed`` then).
        """
        from corridor.pipelines.driver.runner import Runner
        from corridor.pipelines.params import params_json

        if isinstance(pipeline, str | Path):
            from corridor.pipelines.pipeline_files import load_pipeline_file

            found = load_pipeline_file(Path(pipeline))
            pipeline, workdir = found.choose(None), workdir or found.root
        built = pipeline.build(**(params or {}))
        project = self._project(project)
        root = Path(workdir).resolve() if workdir is not None else pipeline_root(pipeline)
        registered = self.register(pipeline, project=project, workdir=root)
        link = self._link()
        body: dict[str, object] = {
            "params": params_json(built.params),
            "driver": "client",
            "trigger": trigger,
            "no_cache": no_cache,
            "site": site,
            "on_failure": on_failure,
            "snapshot": registered.snapshot,
        }
        run = link.create_run(project, pipeline.name, body)
        if run.state == "queued":  # the pipeline's concurrency limit: wait for room
            run = self._wait_state(run.id, "queued")
        if on_event is not None:
            from corridor.pipelines.events import RunEvent

            on_event(RunEvent(run))
        runner = Runner(
            link, built, run=run, root=root, on_event=on_event, max_parallel=max_parallel
        )
        return runner.execute()

    def start(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        *,
        project: str | None = None,
        site: str | None = None,
        no_cache: bool = False,
        on_failure: FailurePolicy | None = None,
    ) -> RunOut:
        """Start a run of the registered pipeline ``name`` that the server drives (a driver
        job over the pipeline's stored snapshot); returns at once, queued."""
        body = {
            "params": params or {},
            "driver": "job",
            "trigger": "api",
            "no_cache": no_cache,
            "site": site,
            "on_failure": on_failure,
        }
        path = f"/api/v1/projects/{self._project(project)}/pipelines/{name}/runs"
        return RunOut.model_validate(self._request("POST", path, json=body).json())

    def runs(
        self,
        project: str | None = None,
        *,
        pipeline: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[RunOut]:
        """Runs of the project, newest first."""
        query = {k: v for k, v in (("pipeline", pipeline), ("state", state), ("limit", limit)) if v}
        path = f"/api/v1/projects/{self._project(project)}/pipeline-runs"
        answer = self._request("GET", path, params=query)
        return TypeAdapter(builtins.list[RunOut]).validate_python(answer.json())

    def get(self, run_id: str) -> RunView:
        """The run with its graph and every step run (map items included)."""
        return RunView.model_validate(
            self._request("GET", f"/api/v1/pipeline-runs/{run_id}").json()
        )

    def wait(self, run_id: str, timeout_s: float | None = None) -> RunOut:
        """The run once it has ended (or as it is when ``timeout_s`` has passed)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            view = self.get(run_id)
            if view.run.state in ENDED:
                return view.run
            left = _WAIT_S if deadline is None else min(_WAIT_S, deadline - time.monotonic())
            if left <= 0:
                return view.run
            view = RunView.model_validate(
                self._request(
                    "GET",
                    f"/api/v1/pipeline-runs/{run_id}",
                    params={"wait_s": round(left, 3), "while_state": view.run.state},
                    timeout=left + 30.0,
                ).json()
            )

    def _wait_state(self, run_id: str, state: str) -> RunOut:
        while True:
            answer = self._request(
                "GET",
                f"/api/v1/pipeline-runs/{run_id}",
                params={"wait_s": _WAIT_S, "while_state": state},
                timeout=_WAIT_S + 30.0,
            )
            run = RunView.model_validate(answer.json()).run
            if run.state != state:
                return run

    def retry(self, run_id: str) -> RunView:
        """Resume a failed or cancelled run on the server: its succeeded steps are kept, the
        others run again (a driver job drives it). The run as it is now, queued."""
        return RunView.model_validate(
            self._request("POST", f"/api/v1/pipeline-runs/{run_id}/retry").json()
        )

    def cancel(self, run_id: str) -> RunOut:
        return RunOut.model_validate(
            self._request("POST", f"/api/v1/pipeline-runs/{run_id}/cancel").json()
        )

    # Reading.
    def output(self, run_id: str, key: str) -> object:
        """The output of step run ``key`` (``clean``, ``clean[3]``)."""
        path = f"/api/v1/pipeline-runs/{run_id}/steps/{key}/output"
        return payload.decode(self._request("GET", path).content)

    def result(self, run_id: str) -> object:
        """The pipeline's value of a succeeded run."""
        return payload.decode(
            self._request("GET", f"/api/v1/pipeline-runs/{run_id}/result").content
        )

    def logs(self, run_id: str, key: str) -> str:
        """What step run ``key`` printed (its job's log, or its captured in-process output)."""
        answer = self._request("GET", f"/api/v1/pipeline-runs/{run_id}/steps/{key}/logs")
        return str(answer.content.decode("utf-8", errors="replace"))

    # Automating.
    def schedule(
        self,
        name: str,
        cron: str,
        *,
        timezone: str = "UTC",
        params: dict[str, Any] | None = None,
        missed: MissedPolicy = "skip",
        project: str | None = None,
    ) -> ScheduleOut:
        """Run pipeline ``name`` on a cron schedule, in ``timezone``."""
        body = {"cron": cron, "timezone": timezone, "params": params or {}, "missed": missed}
        path = f"/api/v1/projects/{self._project(project)}/pipelines/{name}/schedules"
        return ScheduleOut.model_validate(self._request("POST", path, json=body).json())

    def schedules(self, name: str, *, project: str | None = None) -> builtins.list[ScheduleOut]:
        path = f"/api/v1/projects/{self._project(project)}/pipelines/{name}/schedules"
        return TypeAdapter(builtins.list[ScheduleOut]).validate_python(
            self._request("GET", path).json()
        )

    def unschedule(self, schedule_id: str) -> None:
        self._request("DELETE", f"/api/v1/pipeline-schedules/{schedule_id}")

    def trigger(
        self,
        name: str,
        *,
        dataset: str | None = None,
        model: str | None = None,
        alias: str | None = None,
        param: str | None = None,
        params: dict[str, Any] | None = None,
        project: str | None = None,
    ) -> TriggerOut:
        """Run pipeline ``name`` on each new version of ``dataset``, or each move of a model's
        ``alias``; ``param`` receives the new ``name@N``."""
        body = {
            "dataset": dataset,
            "model": model,
            "alias": alias,
            "param": param,
            "params": params or {},
        }
        path = f"/api/v1/projects/{self._project(project)}/pipelines/{name}/triggers"
        return TriggerOut.model_validate(self._request("POST", path, json=body).json())

    def triggers(self, name: str, *, project: str | None = None) -> builtins.list[TriggerOut]:
        path = f"/api/v1/projects/{self._project(project)}/pipelines/{name}/triggers"
        return TypeAdapter(builtins.list[TriggerOut]).validate_python(
            self._request("GET", path).json()
        )

    def untrigger(self, trigger_id: str) -> None:
        self._request("DELETE", f"/api/v1/pipeline-triggers/{trigger_id}")
