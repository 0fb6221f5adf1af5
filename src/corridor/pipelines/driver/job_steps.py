"""Step runs as compute jobs: their job bodies, waiting for them, and how a failed one reads.

A job step is a function job of ``corridor.pipelines.step_job`` (an installed function, so every
worker has it) over the run's code snapshot: ``run_step(module, qualname, args, kwargs)`` for
one call, ``run_items(module, qualname, items, kwargs)`` for a chunk of a mapped step. It is
placed, retried and timed out by the compute scheduler like any job, with the step's options;
its call names the pipeline run and the step (``current_step()`` reads them on the worker).

Job steps that became ready together are begun in one request (the server queues all their jobs
in one transaction); every job that ended since the driver last looked is finished in one
request, its output being the job's result (no upload). A failed job's traceback is the last
Python traceback in its log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corridor.compute.sansio import payload, payload_datasets
from corridor.compute.schemas import FunctionRefIn, JobOut, JobSubmit
from corridor.errors import CorridorError, PayloadTooLarge
from corridor.pipelines import artifacts
from corridor.pipelines.driver.outputs import Outcome
from corridor.pipelines.events import StepEvent
from corridor.pipelines.sansio.graph import Node
from corridor.pipelines.schemas import RunOut, StepBegin, StepFinish, StepRunOut

if TYPE_CHECKING:
    from corridor.pipelines.driver.runner import Runner

ENDED = frozenset({"succeeded", "cached", "failed", "upstream_failed", "skipped", "cancelled"})

STEP_FUNCTION = FunctionRefIn(
    module="corridor.pipelines.step_job", qualname="run_step", source="installed"
)
ITEMS_FUNCTION = FunctionRefIn(
    module="corridor.pipelines.step_job", qualname="run_items", source="installed"
)
TRACEBACK_MARK = "Traceback (most recent call last):"
MAX_TRACEBACK_CHARS = 64 * 1024


def job_body(
    run: RunOut,
    node: Node,
    *,
    key: str,
    function: FunctionRefIn,
    call_args: Sequence[object],
    snapshot: str | None,
    name: str | None = None,
) -> JobSubmit:
    """The job of one step run (or of one map chunk: ``key`` is the map's, ``name`` tells the
    chunk)."""
    options: dict[str, Any] = node.options
    # The run and step travel in the call, not in the job's env: a job with env of its own
    # starts a cold interpreter, one without may take a site's preloaded one.
    data = payload.encode_call(list(call_args), {"context": {"run_id": run.id, "key": key}})
    env = dict(options.get("env") or {})
    fields: dict[str, Any] = {
        "function": function,
        "input_b64": _b64(data),
        "snapshot": snapshot,
        "env": env,
        "cpus": options.get("cpus", 1.0),
        "memory": options.get("memory", 0),
        "gpus": options.get("gpus", 0.0),
        "gpu_type": options.get("gpu_type"),
        "site": options.get("site") or run.site,
        "objective": options.get("objective"),
        "retries": options.get("retries", 0),
        "backoff_s": options.get("backoff_s", 1.0),
        "timeout": options.get("timeout"),
        "name": f"{run.pipeline}/{name or key}"[:128],
        "datasets": payload_datasets.dataset_refs(list(call_args))[:64],
    }
    return JobSubmit.model_validate(fields)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def traceback_of(log: bytes) -> str | None:
    """The last Python traceback in a job's log, to its end (at most 64 KiB of it)."""
    text = log.decode("utf-8", errors="replace")
    at = text.rfind(TRACEBACK_MARK)
    if at < 0:
        return text[-MAX_TRACEBACK_CHARS:] or None
    return text[at:][-MAX_TRACEBACK_CHARS:]


@dataclass
class LiveJob:
    """A job in flight: one step's, or one chunk of a map (its item indexes)."""

    key: str
    map_key: str | None = None
    indexes: list[int] = field(default_factory=list)


class JobSteps:
    """The job steps of one run: begun together, finished as their jobs end."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._begins: list[tuple[StepBegin, Callable[[StepRunOut], None]]] = []

    def plan(self, node: Node) -> None:
        """Collect the begin entry of job step ``node`` (its job, unless the cache has it)."""
        r = self.runner
        entry = r.begin_entry(node, node.key, inputs=r.outputs.input_digests(node))
        if r.cache_hit(entry) is None:
            args, kwargs = r.outputs.call_of(node)
            body = job_body(
                r.run,
                node,
                key=node.key,
                function=STEP_FUNCTION,
                call_args=[node.module, node.qualname, args, kwargs],
                snapshot=r.run.snapshot,
            )
            refs = artifacts.references([args, kwargs])
            entry = entry.model_copy(update={"job": body, "input_refs": refs})
        self._begins.append((entry, self.job_begun))

    def queue_begin(self, entry: StepBegin, answer: Callable[[StepRunOut], None]) -> None:
        self._begins.append((entry, answer))

    def send_begins(self) -> None:
        """Begin every collected job entry: one request per batch, after the recorder's."""
        r = self.runner
        if not self._begins:
            return
        begins, self._begins = self._begins, []
        r.recorder.flush()
        rows: list[StepRunOut] = []
        try:
            r.link.begin_all(r.run.id, [entry for entry, _ in begins], rows)
        except PayloadTooLarge as exc:
            for entry, _ in begins[len(rows) :]:
                r.end_directly(entry.key, "failed", error=f"its job is too large to send: {exc}")
        for (_, answer), row in zip(begins, rows, strict=False):
            answer(row)

    def job_begun(self, row: StepRunOut) -> None:
        r = self.runner
        if row.state in ENDED:
            r.settle(
                row.key,
                Outcome(row.state, row.output_digest, row.output_kind, row.error, row.traceback),
                fetch=r.fetch_step(row.key),
            )
        elif row.job_id is not None:
            r.live_jobs[row.job_id] = LiveJob(row.key)
            r.waiter.watch(row.job_id)
            r._emit(StepEvent(row.key, row.step, "running", job_id=row.job_id))
        else:
            error = "its cached output was gone when it began; retry the run to compute it"
            r.end_directly(row.key, "failed", error=error)

    def ended(self, ended: list[tuple[str, JobOut | None, CorridorError | None]]) -> None:
        """Finish the step runs of jobs that ended (one request), and hand chunks to maps."""
        r = self.runner
        finishes: list[StepFinish] = []
        values: dict[str, object] = {}
        for job_id, job, error in ended:
            live = r.live_jobs.pop(job_id, None)
            if live is None:
                continue
            if live.map_key is not None:
                r.maps.chunk_ended(live, job_id, job, error)
                continue
            finish = self.job_finish(live.key, job_id, job, error)
            if finish.output_from_job:
                # Read once here: its kind and the things it names (lineage), and steps
                # downstream will want its value (a job's input is built by the driver).
                finish, values[live.key] = self._with_output(finish, job_id)
            finishes.append(finish)
        if finishes:
            for row in r.link.finish(r.run.id, finishes):
                outcome = Outcome(
                    row.state, row.output_digest, row.output_kind, row.error, row.traceback
                )
                known = row.key in values
                r.settle(
                    row.key,
                    outcome,
                    value=values.get(row.key),
                    fetch=None if known else r.fetch_step(row.key),
                    duration_s=_seconds(row.duration_ms),
                )

    def _with_output(self, finish: StepFinish, job_id: str) -> tuple[StepFinish, object]:
        value = artifacts.decode_output(self.runner.link.job_result(job_id))
        update = {
            "output_kind": artifacts.kind_of(value),
            "output_refs": artifacts.references(value),
        }
        return finish.model_copy(update=update), value

    def job_finish(
        self, key: str, job_id: str, job: JobOut | None, error: CorridorError | None
    ) -> StepFinish:
        """The finish entry of ``key`` from how its job ended."""
        r = self.runner
        if job is None:
            return StepFinish(
                key=key, state="failed", error=f"lost the server while its job ran: {error}"
            )
        duration = _job_ms(job)
        if job.state == "succeeded":
            return StepFinish(
                key=key, state="succeeded", output_from_job=True, duration_ms=duration
            )
        if job.state == "cancelled":
            return StepFinish(
                key=key, state="cancelled", error=job.error or "its job was cancelled"
            )
        trace = None
        with suppress(CorridorError):
            trace = traceback_of(r.link.job_log_tail(job_id))
        return StepFinish(
            key=key,
            state="failed",
            error=(job.error or "its job failed")[:65_536],
            traceback=trace,
            duration_ms=duration,
        )


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def _job_ms(job: JobOut) -> float | None:
    if job.started_at is None or job.finished_at is None:
        return None
    return max(0.0, (job.finished_at - job.started_at).total_seconds() * 1000)
