"""The driver's core: execute a built graph against the server, step by step, as deps allow.

One thread (the caller's) owns the run's state: which nodes wait on how many upstream nodes,
which are ready, which jobs are live. Everything slow happens elsewhere and comes back as an
event on one queue: in-process steps end on the thread pool (``inprocess``), jobs end under the
waiter's long polls (``job_steps``). Each turn of the loop takes every ready node at once, so
job steps that became ready together are begun in one request (the server queues all their jobs
in one transaction and the scheduler places them side by side), and every job that ended since
the last turn is finished in one request.

A ready node whose upstream failed ends ``upstream_failed``; one whose upstream was skipped, or
whose ``when`` condition does not hold, ends ``skipped``. With ``fail_fast`` the first failure
cancels the live jobs and ends every step still open ``cancelled``; with ``continue`` the
branches that do not depend on it go on. Step runs that already exist and succeeded (a resumed
run) are reused as they are, never run again.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corridor.errors import Conflict, CorridorError
from corridor.pipelines import artifacts
from corridor.pipelines.driver import capture
from corridor.pipelines.driver.inprocess import InProcessCall, InProcessEnd, InProcessPool
from corridor.pipelines.driver.job_steps import JobSteps, LiveJob
from corridor.pipelines.driver.link import Link, b64
from corridor.pipelines.driver.mapping import MapSteps
from corridor.pipelines.driver.outputs import FAILED, Outcome, Outputs
from corridor.pipelines.driver.recorder import Recorder
from corridor.pipelines.driver.step_keys import StepKeys
from corridor.pipelines.driver.waiter import JobWaiter
from corridor.pipelines.events import OnEvent, PipelineFailed, RunEvent, RunResult, StepEvent
from corridor.pipelines.sansio.graph import Arg, Node
from corridor.pipelines.schemas import (
    CacheEntry,
    RunFinish,
    RunOut,
    StepBegin,
    StepFinish,
    StepRunOut,
)

if TYPE_CHECKING:
    from corridor.compute.schemas import JobOut
    from corridor.pipelines.build import BuiltGraph

__all__ = ["LiveJob", "PipelineFailed", "RunResult", "Runner"]

HEARTBEAT_S = 5.0

log = logging.getLogger("corridor.pipelines")


class Runner:
    """Executes ``built`` as run ``run`` (created by the caller), over ``link``."""

    def __init__(
        self,
        link: Link,
        built: BuiltGraph,
        *,
        run: RunOut,
        root: Path,
        on_event: OnEvent | None = None,
        max_parallel: int | None = None,
    ) -> None:
        self.link = link
        self.built = built
        self.graph = built.graph
        self.run = run
        self.no_cache = run.no_cache
        self.fail_fast = run.on_failure == "fail_fast"
        self.on_event = on_event
        self.outputs = Outputs(built.literals)
        self.keys = StepKeys(root)
        self.index: dict[str, CacheEntry] = {}
        self.existing: dict[str, StepRunOut] = {}
        self.live_jobs: dict[str, LiveJob] = {}
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.recorder = Recorder(link, run.id)
        self.pool = InProcessPool(
            run.id,
            max_parallel or os.cpu_count() or 4,
            lambda end: self.events.put(("ip", end)),
            client=link.connection,
            project=run.project,
        )
        self.waiter = JobWaiter(link, lambda *ended: self.events.put(("job", ended)))
        self.maps = MapSteps(self)
        self.jobs = JobSteps(self)
        self.first_error: str | None = None
        self.stopping = False
        self._waiting = {key: len(node.upstream()) for key, node in self.graph.nodes.items()}
        self._ready = [key for key, count in self._waiting.items() if count == 0]
        self._settled = 0
        self._stop_beat = threading.Event()

    # Running.
    def execute(self) -> RunResult:
        """Run every step, finish the run, and return how it ended."""
        capture.install()
        beat = threading.Thread(target=self._beat, name="pipeline-heartbeat", daemon=True)
        try:
            self.link.put_graph(self.run.id, self.graph.to_json())
            beat.start()
            self.existing = {row.key: row for row in self.link.view(self.run.id).steps}
            self._fetch_index()
            try:
                self._loop()
            except Conflict:
                ended = self.link.run(self.run.id)
                if ended.state in ("succeeded", "failed", "cancelled"):
                    self._emit(RunEvent(ended))
                    return RunResult(ended)  # cancelled (or ended) from outside
                raise
            return self._finish()
        finally:
            self._stop_beat.set()
            self.waiter.stop()
            self.pool.shutdown(wait=False)
            with suppress(CorridorError):
                self.recorder.close()
            self.link.close()  # calls still retrying in other threads give up
            capture.uninstall()

    def _fetch_index(self) -> None:
        if self.no_cache:
            return
        digests = {
            self.keys.identity(step, self.graph.nodes[key].options.get("env") or {}).code
            for key, step in self.built.steps.items()
            if self.graph.nodes[key].options.get("cache", True)
        }
        if digests:
            self.index = dict(self.link.cache_index(self.run.id, sorted(digests)).entries)

    def _loop(self) -> None:
        while not self.stopping and self._settled < len(self.graph.nodes):
            self._dispatch()
            if self.stopping or self._settled >= len(self.graph.nodes):
                break
            try:
                first = self.events.get(timeout=1.0)
            except queue.Empty:
                if self.recorder.error is not None:
                    raise self.recorder.error from None
                continue
            batch = [first]
            with suppress(queue.Empty):
                while True:
                    batch.append(self.events.get_nowait())
            self._handle(batch)

    def _handle(self, batch: list[tuple[str, Any]]) -> None:
        ended_jobs: list[tuple[str, JobOut | None, CorridorError | None]] = []
        for kind, event in batch:
            if self.stopping:
                return
            if kind == "ip":
                self._in_process_ended(event)
            else:
                ended_jobs.append(event)
        if ended_jobs and not self.stopping:
            self.jobs.ended(ended_jobs)

    def _dispatch(self) -> None:
        while self._ready and not self.stopping:
            ready, self._ready = self._ready, []
            for key in ready:
                try:
                    self._start(self.graph.nodes[key])
                except CorridorError as exc:
                    if isinstance(exc, Conflict):
                        raise
                    self.end_directly(key, "failed", error=f"{type(exc).__name__}: {exc}")
            self.jobs.send_begins()

    def _start(self, node: Node) -> None:
        upstream = [self.outputs.outcome(up) for up in node.upstream()]
        if any(o is not None and o.state in FAILED for o in upstream):
            self.end_directly(node.key, "upstream_failed")
        elif any(o is not None and o.state == "skipped" for o in upstream) or not all(
            bool(self.outputs.value(k)) != negate for k, negate in node.when
        ):
            self.end_directly(node.key, "skipped")
        elif self.reuse(node.key):
            pass
        elif node.map_over is not None:
            self.maps.expand(node)
        elif node.options.get("in_process"):
            self._start_in_process(node)
        else:
            self.jobs.plan(node)

    def reuse(self, key: str) -> bool:
        """Settle ``key`` from its existing step run when that one succeeded (a resumed run)."""
        row = self.existing.get(key)
        if row is None or row.state not in ("succeeded", "cached"):
            return False
        outcome = Outcome(row.state, row.output_digest, row.output_kind)
        self.settle(key, outcome, fetch=self.fetch_step(key), parent=row.parent_key)
        return True

    def begin_entry(
        self, node: Node, key: str, *, inputs: dict[str, str], **more: Any
    ) -> StepBegin:
        """The begin entry of ``key`` (``node`` itself, or one of its map items)."""
        step = self.built.steps[node.key]
        identity = self.keys.identity(step, node.options.get("env") or {})
        cache = bool(node.options.get("cache", True)) and not self.no_cache
        return StepBegin(
            key=key,
            step=node.step,
            in_process=bool(node.options.get("in_process")),
            cache=cache,
            cache_key=identity.key_of(inputs),
            code_digest=identity.code,
            inputs=inputs,
            **more,
        )

    def cache_hit(self, entry: StepBegin) -> CacheEntry | None:
        if not entry.cache or entry.cache_key is None:
            return None
        return self.index.get(entry.cache_key)

    def _start_in_process(self, node: Node) -> None:
        entry = self.begin_entry(node, node.key, inputs=self.outputs.input_digests(node))
        hit = self.cache_hit(entry)
        if hit is not None:
            self.recorder.begin(entry)
            self.settle(
                node.key,
                Outcome("cached", hit.output_digest, hit.output_kind),
                fetch=self.fetch_artifact(hit.output_digest),
            )
            return
        options = node.options
        self._emit(StepEvent(node.key, node.step, "running"))
        self.pool.start(
            InProcessCall(
                entry,
                self.built.steps[node.key],
                lambda: self.outputs.call_of(node),
                retries=int(options.get("retries", 0)),
                backoff_s=float(options.get("backoff_s", 1.0)),
            )
        )

    def _in_process_ended(self, end: InProcessEnd) -> None:
        if self.maps.owns(end.key):
            self.maps.item_ended(end)
            return
        self.recorder.finish(end.record)
        self.settle(end.key, end.outcome, value=end.value, duration_s=end.duration_s)

    # Ends.
    def end_directly(self, key: str, state: str, *, error: str | None = None) -> None:
        """End a node that runs nothing (skipped, upstream_failed, refused) and record it."""
        node = self.graph.nodes[key]
        begin = StepBegin(key=key, step=node.step, in_process=bool(node.options.get("in_process")))
        self.recorder.finish(StepFinish(key=key, state=state, begin=begin, error=error))
        self.settle(key, Outcome(state, error=error))

    def settle(
        self,
        key: str,
        outcome: Outcome,
        *,
        value: object = None,
        fetch: Any = None,
        duration_s: float | None = None,
        parent: str | None = None,
    ) -> None:
        """Record how a node ended, tell the watcher, and release what waited for it."""
        self.outputs.settle(key, outcome, value=value, fetch=fetch if outcome.has_output else None)
        node = self.graph.nodes.get(key)
        self._emit(
            StepEvent(
                key,
                node.step if node else key,
                outcome.state,
                duration_s=duration_s,
                error=outcome.error,
                traceback=outcome.traceback,
            )
        )
        if node is None:
            return
        self._settled += 1
        if outcome.state == "failed" and self.first_error is None:
            self.first_error = f"step {key!r} failed: {outcome.error or 'failed'}"
        for dependent in self.graph.dependents(key):
            self._waiting[dependent] -= 1
            if self._waiting[dependent] == 0:
                self._ready.append(dependent)
        if outcome.state == "failed" and self.fail_fast:
            self._stop()

    def _stop(self) -> None:
        """Fail fast: cancel the live jobs, end every open step ``cancelled``."""
        self.stopping = True
        for job_id in list(self.live_jobs):
            with suppress(CorridorError):
                self.link.cancel_job(job_id)
        for key, node in self.graph.nodes.items():
            if not self.outputs.ended(key):
                begin = StepBegin(
                    key=key, step=node.step, in_process=bool(node.options.get("in_process"))
                )
                self.recorder.finish(StepFinish(key=key, state="cancelled", begin=begin))
                self._emit(StepEvent(key, node.step, "cancelled"))
        for entry in self.maps.open_items():
            self.recorder.finish(StepFinish(key=entry.key, state="cancelled", begin=entry))

    def _finish(self) -> RunResult:
        self.recorder.flush()
        self._check_recorded()
        if self.first_error is not None or self.stopping:
            body = RunFinish(state="failed", error=self.first_error or "a step failed")
        else:
            value = self._result(self.graph.result)
            data = artifacts.encode_output(value, where="the pipeline's return value")
            body = RunFinish(
                state="succeeded", result_b64=b64(data), result_kind=artifacts.kind_of(value)
            )
            self.run = self.link.finish_run(self.run.id, body)
            self._emit(RunEvent(self.run))
            return RunResult(self.run, value)
        self.run = self.link.finish_run(self.run.id, body)
        self._emit(RunEvent(self.run))
        return RunResult(self.run)

    def _check_recorded(self) -> None:
        """Send again the finish of any step the server still shows open though this driver
        saw it end, so that an ended run never keeps a running step run (finishes are
        idempotent; a second one of the same end is a no-op)."""
        view = self.link.view(self.run.id)
        open_keys = [s.key for s in view.steps if s.state in ("pending", "running")]
        missing = self.recorder.unrecorded(open_keys)
        if missing:
            log.warning(
                "pipeline run %s: %d ended steps were still open on the server (%s...); "
                "recording them again",
                self.run.id,
                len(missing),
                missing[0].key,
            )
            self.link.finish(self.run.id, missing)

    def _result(self, arg: Arg) -> object:
        """The pipeline's value: a skipped step's output is None."""
        if arg.kind == "node":
            assert arg.node is not None
            outcome = self.outputs.outcome(arg.node)
            if outcome is None or not outcome.has_output:
                return None
        if arg.kind == "list":
            return [self._result(a) for a in arg.items]
        if arg.kind == "dict":
            return {k: self._result(a) for k, a in zip(arg.keys, arg.items, strict=True)}
        return self.outputs.resolve(arg)

    # Helpers of the parts.
    def fetch_step(self, key: str) -> Any:
        return lambda: self.link.step_output(self.run.id, key)

    def fetch_artifact(self, digest: str) -> Any:
        return lambda: self.link.artifact(self.run.project, digest)

    def _emit(self, event: object) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _beat(self) -> None:
        while not self._stop_beat.wait(HEARTBEAT_S):
            with suppress(Exception):  # best effort: a missed beat only ages driver_seen_at
                self.link.heartbeat(self.run.id)
