"""The functions a step's compute job runs: one step run (``run_step``) or a chunk of map items.

A job step is a function job of ``corridor.pipelines.step_job:run_step`` (source ``installed``)
whose snapshot is the pipeline's code, unpacked as the job's folder; its input is the call
``(module, qualname, args, kwargs)``. The step is found by name in that folder, never unpickled,
and called as its plain function.

The job's result is the step's output: ``run_step`` returns ``artifacts.to_storable(value)`` and
asks the worker (``payload_tables``) to write its tables as Parquet, so the result blob's bytes
are exactly ``artifacts.encode_output(value)`` and the driver uses the job's result as the step
run's output, its sha256 as the output digest, without downloading or re-encoding it. An output
that cannot be stored fails the job with the message saying what to return instead.

The driver names the pipeline run and the step in the call's ``context``; the job sets
``PIPELINE_RUN_ID`` and ``PIPELINE_STEP`` in its own environment from it (what
``corridor.pipelines.current_step()`` reads there, and what the step's own child processes
inherit). They are not the job's declared env, since a job that declares env starts a cold
interpreter rather than a site's preloaded one.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

from corridor.compute.function_ref import FunctionRef, resolve
from corridor.errors import InvalidInput
from corridor.pipelines import artifacts
from corridor.pipelines.code_digest import unwrap_step
from corridor.pipelines.dsl import Step, set_current_step

# Read by the compute worker when it encodes a function job's result (``function_ref.invoke``).
RESULT_TABLES: Final = "parquet"


def run_step(
    module: str,
    qualname: str,
    args: Sequence[object],
    kwargs: Mapping[str, object],
    context: Mapping[str, str] | None = None,
) -> object:
    """Call step ``module:qualname`` of the job's snapshot; its output, ready to be stored."""
    _enter(context)
    step, where = _find(module, qualname)
    value = step(*args, **kwargs)
    return artifacts.to_storable(value, where=where)


def run_items(
    module: str,
    qualname: str,
    items: Sequence[object],
    kwargs: Mapping[str, object],
    first_index: int | None = None,
    context: Mapping[str, str] | None = None,
) -> list[dict[str, object]]:
    """Call the step once per item (the item first, ``kwargs`` after), one chunk of a map.

    Per item ``{"value": output}`` or ``{"error": "Type: message", "traceback": "..."}``: one bad
    item (or one whose output cannot be stored) fails alone. Given ``first_index``, the items
    are ``key[first_index]``, ``key[first_index + 1]``... for ``current_step()``.
    """
    _enter(context)
    step, where = _find(module, qualname)
    run_id, base_key = os.environ.get("PIPELINE_RUN_ID"), os.environ.get("PIPELINE_STEP")
    outcomes: list[dict[str, object]] = []
    for i, item in enumerate(items):
        item_key = f"{base_key}[{first_index + i}]" if base_key and first_index is not None else ""
        try:
            if run_id and item_key:
                with set_current_step(run_id, item_key):
                    value = step(item, **kwargs)
            else:
                value = step(item, **kwargs)
            item_where = f"step '{item_key}'" if item_key else where
            outcomes.append({"value": artifacts.to_storable(value, where=item_where)})
        except Exception as exc:  # one item's failure is its own outcome, not the chunk's
            message = exc.message if isinstance(exc, InvalidInput) else str(exc)
            outcomes.append(
                {"error": f"{type(exc).__name__}: {message}", "traceback": traceback.format_exc()}
            )
    return outcomes


def _enter(context: Mapping[str, str] | None) -> None:
    """Name the pipeline run and step in this job's environment (its children inherit it)."""
    if context:
        os.environ["PIPELINE_RUN_ID"] = str(context["run_id"])
        os.environ["PIPELINE_STEP"] = str(context["key"])


def _find(module: str, qualname: str) -> tuple[Callable[..., object], str]:
    """The plain function of the step, and how a refusal names it (``step 'clean'``)."""
    target = resolve(FunctionRef(module, qualname, "snapshot"), Path.cwd())
    name = os.environ.get("PIPELINE_STEP") or (
        target.name if isinstance(target, Step) else qualname
    )
    return unwrap_step(target), f"step '{name}'"


run_step.payload_tables = RESULT_TABLES  # type: ignore[attr-defined]
run_items.payload_tables = RESULT_TABLES  # type: ignore[attr-defined]
