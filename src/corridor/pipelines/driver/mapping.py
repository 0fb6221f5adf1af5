"""Mapped steps: one step run per item, items run in chunk jobs (or on the driver's threads).

When a map's list is known, each item gets its key (``clean[3]``), its input digest and its own
cache key; the map node's key is made of its items' keys, so a map whose every item would hit is
one cache hit, read as one artifact. Otherwise items that hit are recorded ``cached`` and the
misses are cut into chunk jobs: as many as the sites have room for at once (their free CPUs
over the CPUs the step asks for), at least one, at most 1024, so the map runs in one wave. Each
chunk's items are begun in one batch sharing a ``job_group``: the server queues one job for
them in the same transaction. A chunk job runs ``run_items``; each item's value or error comes
back in its result, so one bad item fails alone.

The map node's own step run ends when its last item does: failed if any item failed (with
``fail_fast``, at the first failed item), else succeeded with the list of item outputs, in item
order, as its output (a fan-in step reads one artifact).

Requests are bounded by the server's body limit, learnt from its first refusal, so chunks are
also cut small enough for their entries to fit one request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from corridor.compute.sansio import payload
from corridor.errors import CorridorError, PayloadTooLarge
from corridor.pipelines import artifacts
from corridor.pipelines.driver import map_chunks
from corridor.pipelines.driver.inprocess import InProcessCall, InProcessEnd
from corridor.pipelines.driver.job_steps import LiveJob
from corridor.pipelines.driver.link import b64
from corridor.pipelines.driver.map_chunks import MapState
from corridor.pipelines.driver.outputs import Outcome, encoded
from corridor.pipelines.events import StepEvent
from corridor.pipelines.sansio.cache_key import canonical_json
from corridor.pipelines.sansio.graph import Node
from corridor.pipelines.schemas import StepBegin, StepFinish, StepRunOut

if TYPE_CHECKING:
    from corridor.compute.schemas import JobOut
    from corridor.pipelines.driver.runner import Runner

Answer = Callable[[StepRunOut], None]


class MapSteps:
    """The expanded maps of one run."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._maps: dict[str, MapState] = {}
        self._item_of: dict[str, tuple[str, int]] = {}

    def owns(self, key: str) -> bool:
        return key in self._item_of

    def open_items(self) -> list[StepBegin]:
        """Begin entries of the items of every map that have not ended."""
        return [
            m.entries[i]
            for m in self._maps.values()
            for i in range(len(m.entries))
            if i not in m.outcomes
        ]

    # Expanding.
    def expand(self, node: Node) -> None:
        r = self.runner
        items = r.outputs.resolve(node.map_over) if node.map_over is not None else []
        if not isinstance(items, list | tuple):
            r.end_directly(
                node.key,
                "failed",
                error=f"step {node.step!r} maps over a {type(items).__name__}, not a list",
            )
            return
        items = list(items)
        fixed_inputs = r.outputs.input_digests(node, skip_first=True)
        entries = []
        for i, item in enumerate(items):
            digest = artifacts.digest(artifacts.encode_output(item, where=f"item {i}"))
            entries.append(
                r.begin_entry(
                    node,
                    f"{node.key}[{i}]",
                    inputs={"args[0]": digest, **fixed_inputs},
                    parent_key=node.key,
                    item_index=i,
                )
            )
        items_digest = artifacts.digest(canonical_json([e.cache_key for e in entries]))
        entry = r.begin_entry(node, node.key, inputs={"items": items_digest})
        hit = r.cache_hit(entry)
        if hit is not None:
            r.recorder.begin(entry)
            outcome = Outcome("cached", hit.output_digest, hit.output_kind)
            r.settle(node.key, outcome, fetch=r.fetch_artifact(hit.output_digest))
            return
        state = MapState(node, entry, items, entries, r.outputs.call_of(node))
        self._maps[node.key] = state
        for i, e in enumerate(entries):
            self._item_of[e.key] = (node.key, i)
        r._emit(StepEvent(node.key, node.step, "running"))
        misses: list[int] = []
        for i, e in enumerate(entries):
            row = r.existing.get(e.key)
            hit = r.cache_hit(e)
            if row is not None and row.state in ("succeeded", "cached"):
                outcome = Outcome(row.state, row.output_digest, row.output_kind)
                self._item_done(state, i, outcome, fetch=r.fetch_step(e.key))
            elif hit is not None:
                r.recorder.begin(e)
                outcome = Outcome("cached", hit.output_digest, hit.output_kind)
                self._item_done(state, i, outcome, fetch=r.fetch_artifact(hit.output_digest))
            else:
                misses.append(i)
        if state.done:
            return
        if node.options.get("in_process"):
            for i in misses:
                r.pool.start(self._item_call(state, i))
        else:
            self._begin_chunks(state, misses)
        if not misses:
            self._complete(state)

    def _item_call(self, state: MapState, i: int) -> InProcessCall:
        args, kwargs = state.fixed
        item = state.items[i]
        return InProcessCall(
            state.entries[i],
            self.runner.built.steps[state.node.key],
            lambda: ([item, *args], kwargs),
            retries=int(state.node.options.get("retries", 0)),
            backoff_s=float(state.node.options.get("backoff_s", 1.0)),
        )

    def _begin_chunks(self, state: MapState, misses: list[int]) -> None:
        r = self.runner
        r.recorder.flush()
        room = map_chunks.room_for(r, float(state.node.options.get("cpus", 1.0)))
        remaining = misses
        entries = [state.entry]
        for _attempt in range(8):
            entries += map_chunks.plan_chunks(r, state, remaining, room)
            rows: list[StepRunOut] = []
            try:
                r.link.begin_all(r.run.id, entries, rows)
            except PayloadTooLarge:
                # The link learnt the limit: chunks not yet begun are cut smaller.
                begun = self._items_begun(state, rows)
                remaining = [i for i in remaining if i not in begun]
                entries = [] if rows else entries[:1]
                continue
            self._items_begun(state, rows)
            return
        raise CorridorError("the server refuses even one map chunk's entries as too large")

    def _items_begun(self, state: MapState, rows: list[StepRunOut]) -> set[int]:
        begun: set[int] = set()
        for row in rows:
            if row.key in self._item_of:
                self._item_begun(state, row)
                begun.add(self._item_of[row.key][1])
        return begun

    def _item_begun(self, state: MapState, row: StepRunOut) -> None:
        r = self.runner
        i = row.item_index if row.item_index is not None else self._item_of[row.key][1]
        if row.state in (
            "succeeded",
            "cached",
            "failed",
            "cancelled",
            "skipped",
            "upstream_failed",
        ):
            outcome = Outcome(
                row.state, row.output_digest, row.output_kind, row.error, row.traceback
            )
            self._item_done(state, i, outcome, fetch=r.fetch_step(row.key))
            return
        if row.job_id is None:
            self._item_done(state, i, Outcome("failed", error="its cached output was gone"))
            return
        live = r.live_jobs.get(row.job_id)
        if live is None:
            live = r.live_jobs[row.job_id] = LiveJob(row.key, state.node.key)
            r.waiter.watch(row.job_id)
        live.indexes.append(i)
        r._emit(StepEvent(row.key, row.step, "running", state.node.key, i, job_id=row.job_id))

    # Ends.
    def item_ended(self, end: InProcessEnd) -> None:
        map_key, i = self._item_of[end.key]
        state = self._maps[map_key]
        if state.done:
            return
        self.runner.recorder.finish(end.record)
        self._item_done(state, i, end.outcome, value=end.value, duration_s=end.duration_s)

    def chunk_ended(
        self, live: LiveJob, job_id: str, job: JobOut | None, error: CorridorError | None
    ) -> None:
        r = self.runner
        state = self._maps[live.map_key or ""]
        indexes = sorted(live.indexes)
        results: list[Any] | None = None
        failure: StepFinish | None = None
        if job is not None and job.state == "succeeded":
            try:
                decoded = payload.decode(r.link.job_result(job_id))
            except CorridorError as exc:
                decoded = exc
            if isinstance(decoded, list) and len(decoded) == len(indexes):
                results = decoded
            else:
                shown = decoded if isinstance(decoded, CorridorError) else "no result per item"
                failure = StepFinish(key="-", state="failed", error=f"job {job_id}: {shown}")
        else:
            # One finish for the whole chunk: its log is read once, not once per item.
            failure = r.jobs.job_finish(state.entries[indexes[0]].key, job_id, job, error)
        for n, i in enumerate(indexes):
            if state.done:
                return
            key = state.entries[i].key
            if results is not None:
                finish, outcome, value = map_chunks.item_result(key, results[n])
            else:
                assert failure is not None
                finish = failure.model_copy(update={"key": key})
                outcome = Outcome(finish.state, error=finish.error, traceback=finish.traceback)
                value = None
            r.recorder.finish(finish.model_copy(update={"begin": state.entries[i]}))
            self._item_done(state, i, outcome, value=value)

    def _item_done(
        self,
        state: MapState,
        i: int,
        outcome: Outcome,
        *,
        value: object = None,
        fetch: Any = None,
        duration_s: float | None = None,
    ) -> None:
        r = self.runner
        key = state.entries[i].key
        r.outputs.settle(key, outcome, value=value, fetch=fetch)
        state.outcomes[i] = outcome
        node = state.node
        r._emit(
            StepEvent(
                key,
                node.step,
                outcome.state,
                node.key,
                i,
                duration_s,
                outcome.error,
                outcome.traceback,
            )
        )
        failed = outcome.state not in ("succeeded", "cached")
        if (failed and r.fail_fast) or len(state.outcomes) == len(state.entries):
            self._complete(state)

    def _complete(self, state: MapState) -> None:
        if state.done:
            return
        state.done = True
        r = self.runner
        node = state.node
        bad = sorted(i for i, o in state.outcomes.items() if o.state not in ("succeeded", "cached"))
        if bad:
            first = state.outcomes[bad[0]]
            error = (
                f"{len(bad)} of {len(state.entries)} items failed; first: "
                f"{state.entries[bad[0]].key}: {first.error or first.state}"
            )
            r.recorder.finish(
                StepFinish(
                    key=node.key,
                    state="failed",
                    begin=state.entry,
                    error=error[:65_536],
                    traceback=first.traceback,
                )
            )
            r.settle(node.key, Outcome("failed", error=error, traceback=first.traceback))
            return
        values = [r.outputs.value(e.key) for e in state.entries]
        storable, data = encoded(values, where=f"step {node.key!r}")
        kind = artifacts.kind_of(storable)
        r.recorder.finish(
            StepFinish(
                key=node.key,
                state="succeeded",
                begin=state.entry,
                output_b64=b64(data),
                output_kind=kind,
            )
        )
        r.settle(node.key, Outcome("succeeded", artifacts.digest(data), kind), value=storable)
