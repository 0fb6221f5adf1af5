"""What a trial's job runs: the objective, found by reference in the job's code snapshot,
called with the trial's params and a ``report`` that logs intermediate values.

``report(value, step)`` sends the point to the job's linked run (the trial's) through the
attempt's ``run-metrics`` route, with the job token the worker passed down: the only thing the
token opens besides the worker's own routes, so a trial can write nothing but its own run. The
driver reads the points, asks the pruner, and cancels the job of a pruned trial; the answer to
the next report then says so, and ``report`` raises `TrialCancelled` to end the objective at
once (the worker would kill it moments later anyway).

Kept free of Optuna and the SDK: a job imports only what runs the objective.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path

from corridor.compute.function_ref import FunctionRef, resolve
from corridor.compute.worker_link import NETWORK_ERRORS, AttemptAddress, Fenced, WorkerLink
from corridor.errors import InvalidInput

INTERMEDIATE_KEY = "intermediate_value"
# A server restarting answers nothing for a moment; a report waits that out, then gives up.
_NETWORK_TRIES = 3


class TrialCancelled(Exception):
    """The trial's job was cancelled (pruned): stop the objective."""


class Reporter:
    """``report(value, step)``: log an intermediate value of the trial as a metric of its run."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._link: WorkerLink | None = None
        if "CORRIDOR_JOB_TOKEN" in environ:
            self._link = WorkerLink(
                AttemptAddress(
                    environ["CORRIDOR_URL"],
                    environ["CORRIDOR_JOB_ID"],
                    int(environ["CORRIDOR_JOB_ATTEMPT"]),
                    environ["CORRIDOR_JOB_TOKEN"],
                )
            )

    def __call__(self, value: float, step: int) -> None:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"report({value}, {step}): an intermediate value must be finite")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"report(value, {step!r}): the step is an integer >= 0")
        if self._link is None:
            return  # called outside a job (a local try of the objective): nothing to log to
        point = {
            "key": INTERMEDIATE_KEY,
            "value": value,
            "step": step,
            "timestamp_ms": int(time.time() * 1000),
        }
        for attempt in range(_NETWORK_TRIES):
            try:
                answer = self._link.post_json("run-metrics", {"metrics": [point]})
                break
            except Fenced:
                # The attempt is over (cancelled, or replaced): nothing of this run counts.
                raise TrialCancelled(f"the trial's job ended at step {step}") from None
            except NETWORK_ERRORS:
                if attempt == _NETWORK_TRIES - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
        if answer.get("cancel"):
            raise TrialCancelled(f"the trial was pruned at step {step}")


def run_trial(objective: str, source: str, params: dict[str, object]) -> object:
    """Call ``objective`` (``module:qualname``, from the snapshot or installed) as
    ``objective(params, report)``; return its value, or ``[value, artifact]`` if it returned a
    pair (an artifact is bytes or another payload value, such as ``skops.io.dumps(model)``)."""
    module, _, qualname = objective.partition(":")
    fn = resolve(
        FunctionRef(module, qualname, "installed" if source == "installed" else "snapshot"),
        Path.cwd(),
    )
    result = fn(params, Reporter(os.environ))
    if isinstance(result, tuple | list):
        if len(result) != 2:
            raise InvalidInput(
                f"{objective} returned {len(result)} values; return a number, or (number, artifact)"
            )
        return [_number(objective, result[0]), result[1]]
    return _number(objective, result)


def _number(objective: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{objective} returned {type(value).__name__}; return a number")
    return float(value)
