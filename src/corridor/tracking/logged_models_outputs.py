"""Run outputs: which logged models a run produced, and at which step (MLflow's ``LogOutputs``).

MLflow 3 clients record the model a run logs as an output of the run, and read the outputs
back from the run to find the model when registering ``runs:/<run>/<name>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.errors import NotFound
from corridor.store import sql
from corridor.tracking.logged_models import model_row
from corridor.tracking.models import Experiment, RunModelOutput
from corridor.tracking.runs import active_run_row
from corridor.tracking.validation import check_int64

ModelOutput = tuple[str, int]


def log_outputs(session: Session, run_id: str, models: Sequence[ModelOutput]) -> None:
    """Record that an active run output each ``(model_id, step)``; repeats are stored once.

    Every model must live in the run's project; one that does not is reported as absent.
    """
    run = active_run_row(session, run_id)
    checked = sorted({(m, check_int64(f"step of model {m!r}", s)) for m, s in models})
    project_id = session.scalar(
        select(Experiment.project_id).where(Experiment.experiment_id == run.experiment_id)
    )
    for model_id in sorted({m for m, _ in checked}):
        model = model_row(session, model_id)
        exp = session.get(Experiment, model.experiment_id)
        if exp is None or exp.project_id != project_id:
            raise NotFound(f"logged model {model_id!r} not found")
    rows = [{"run_id": run.run_id, "model_id": m, "step": s} for m, s in checked]
    sql.insert_ignore(session, RunModelOutput, rows)
    session.flush()


def model_outputs(session: Session, run_ids: Sequence[str]) -> dict[str, list[ModelOutput]]:
    """The models each run output, by run id (every id present), ordered by step then id."""
    found: dict[str, list[ModelOutput]] = {r: [] for r in run_ids}
    for ids in sql.chunks(list(run_ids)):
        rows = session.execute(
            select(RunModelOutput.run_id, RunModelOutput.model_id, RunModelOutput.step)
            .where(RunModelOutput.run_id.in_(ids))
            .order_by(RunModelOutput.run_id, RunModelOutput.step, RunModelOutput.model_id)
        )
        for run_id, model_id, step in rows:
            found[run_id].append((model_id, step))
    return found
