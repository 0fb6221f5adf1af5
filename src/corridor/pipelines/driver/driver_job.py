"""The driver job: what the server runs to drive a pipeline run it started.

Runs the server starts (a manual start through the API, a schedule, a trigger, a retry) need a
driver that can import the user's code, which the server never does. So the server submits this
function as a compute job (an installed function, over the pipeline's code snapshot, which is
the job's work folder) with the run's id and a run token: a token of the run's creator limited
to the run's project and revoked when the run ends. It imports the pipeline, builds its graph
with the run's parameters and executes it like ``corridor run`` would.
"""

from __future__ import annotations

import os
from pathlib import Path

from corridor.errors import CorridorError, InvalidInput
from corridor.pipelines.schemas import RunFinish


def drive(run_id: str, token: str) -> object:
    """Drive run ``run_id`` to its end; the pipeline's value (the job's result)."""
    from corridor.client.client import Client
    from corridor.compute.function_ref import FunctionRef, resolve
    from corridor.pipelines.driver.link import Link
    from corridor.pipelines.driver.runner import Runner
    from corridor.pipelines.dsl import Pipeline

    url = os.environ.get("CORRIDOR_URL")
    if not url:
        raise InvalidInput("the driver job has no CORRIDOR_URL to reach its server")
    root = Path.cwd()
    with Client(url, token=token) as client:
        link = Link(client)
        run = link.run(run_id)
        try:
            found = resolve(FunctionRef(run.module, run.qualname, "snapshot"), root)
            if not isinstance(found, Pipeline):
                raise InvalidInput(f"{run.module}:{run.qualname} is not a @pipeline")
            built = found.build(**run.params)
        except Exception as exc:
            # Nothing ran: the run ends failed with why, rather than waiting for the watchdog.
            error = (
                exc.message if isinstance(exc, CorridorError) else f"{type(exc).__name__}: {exc}"
            )
            link.finish_run(run_id, RunFinish(state="failed", error=f"cannot build: {error}"))
            raise
        result = Runner(link, built, run=run, root=root).execute()
        return result.value_or_raise()
