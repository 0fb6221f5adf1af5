"""In-process steps: run on the driver's thread pool, with retries, captured output and a record.

Such a step is a plain call in this process: its arguments are resolved (upstream values fetched
when they live on the server), the function runs under ``current_step()``'s context with what it
prints captured, its output is made storable and encoded once (its digest feeds the keys
downstream, its bytes go to the server in the recorder's next batch). A failure is retried
``retries`` times, after ``backoff_s`` doubled at each retry as compute does for jobs; an output
that cannot be stored is not retried (the same code returns the same kind of thing). The
``timeout`` option does not apply: a thread cannot be stopped from outside.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corridor.errors import InvalidInput
from corridor.pipelines import artifacts
from corridor.pipelines.driver import capture
from corridor.pipelines.driver.link import b64
from corridor.pipelines.driver.outputs import Outcome, encoded
from corridor.pipelines.schemas import StepBegin, StepFinish

if TYPE_CHECKING:
    from corridor.pipelines.dsl import Step

Arguments = Callable[[], tuple[list[object], dict[str, object]]]


@dataclass(frozen=True)
class InProcessCall:
    """One in-process step run to execute: ``arguments()`` gives its call's arguments."""

    begin: StepBegin
    step: Step
    arguments: Arguments
    retries: int = 0
    backoff_s: float = 1.0


@dataclass(frozen=True)
class InProcessEnd:
    """How an in-process step run ended, and its record for the server."""

    key: str
    outcome: Outcome
    value: object
    record: StepFinish
    duration_s: float


class InProcessPool:
    """Runs in-process step runs on ``max_parallel`` threads; ``on_end`` hears each end."""

    def __init__(
        self,
        run_id: str,
        max_parallel: int,
        on_end: Callable[[InProcessEnd], None],
        *,
        client: object = None,
        project: str | None = None,
    ) -> None:
        self._run_id = run_id
        self._client = client
        self._project = project
        self._on_end = on_end
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="step")

    def start(self, call: InProcessCall) -> None:
        self._pool.submit(self._run, call)

    def shutdown(self, *, wait: bool) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _run(self, call: InProcessCall) -> None:
        try:
            end = execute(self._run_id, call, client=self._client, project=self._project)
        except BaseException as exc:  # never lose an end: the driver waits for it
            outcome = Outcome("failed", error=f"{type(exc).__name__}: {exc}")
            record = StepFinish(
                key=call.begin.key, state="failed", begin=call.begin, error=outcome.error
            )
            end = InProcessEnd(call.begin.key, outcome, None, record, 0.0)
        self._on_end(end)


def execute(
    run_id: str, call: InProcessCall, *, client: object = None, project: str | None = None
) -> InProcessEnd:
    """Run ``call`` here, retried as its options say, and describe how it ended."""
    from corridor.pipelines.dsl import set_current_step

    key = call.begin.key
    begin = call.begin
    where = f"step {key!r}"
    started = time.perf_counter()
    attempts = 0
    with capture.captured() as logs, set_current_step(run_id, key, client, project):
        while True:
            attempts += 1
            try:
                args, kwargs = call.arguments()
                refs = artifacts.references([args, kwargs])
                if refs:
                    begin = call.begin.model_copy(update={"input_refs": refs})
                value = call.step.fn(*args, **kwargs)
            except Exception as exc:
                if attempts <= call.retries:
                    time.sleep(call.backoff_s * 2 ** (attempts - 1))
                    continue
                error, trace = f"{type(exc).__name__}: {exc}", _trace(exc)
                return _ended(begin, started, attempts, logs.getvalue(), error=error, trace=trace)
            try:
                storable, data = encoded(value, where=where)
            except InvalidInput as exc:
                return _ended(begin, started, attempts, logs.getvalue(), error=exc.message)
            break
    duration_s = time.perf_counter() - started
    digest = artifacts.digest(data)
    kind = artifacts.kind_of(storable)
    record = StepFinish(
        key=key,
        state="succeeded",
        begin=begin,
        output_b64=b64(data),
        output_kind=kind,
        output_refs=artifacts.references(storable),
        logs_b64=_logs(logs.getvalue()),
        duration_ms=duration_s * 1000,
        attempts=attempts,
    )
    return InProcessEnd(key, Outcome("succeeded", digest, kind), storable, record, duration_s)


def _ended(
    begin: StepBegin,
    started: float,
    attempts: int,
    logs: str,
    *,
    error: str,
    trace: str | None = None,
) -> InProcessEnd:
    duration_s = time.perf_counter() - started
    record = StepFinish(
        key=begin.key,
        state="failed",
        begin=begin,
        error=error[:65_536],
        traceback=trace[-262_144:] if trace else None,
        logs_b64=_logs(logs),
        duration_ms=duration_s * 1000,
        attempts=attempts,
    )
    outcome = Outcome("failed", error=error, traceback=trace)
    return InProcessEnd(begin.key, outcome, None, record, duration_s)


def _trace(exc: BaseException) -> str:
    """The traceback from the step's own frame down (the driver's frame left out)."""
    tb = exc.__traceback__
    tb = tb.tb_next if tb is not None and tb.tb_next is not None else tb
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _logs(text: str) -> str | None:
    return b64(text.encode("utf-8", errors="replace")) if text else None
