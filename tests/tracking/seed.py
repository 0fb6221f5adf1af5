"""Tracking things in project ``p`` for access-control tests, named by placeholders in URLs."""

from __future__ import annotations

from sqlalchemy import select

from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.store.blobs.crypto import create_master_key
from corridor.tracking import artifacts, experiments, run_data, runs
from corridor.tracking.entities import MetricPoint


def seed_tracking(runtime: Runtime) -> dict[str, str]:
    """An experiment and a run (each with tag ``k``, the run with a file ``f.txt`` and metric
    ``acc``), and a deleted experiment and run, in project ``p``; return their ids."""
    key_file = runtime.settings.effective_master_key_file
    if not key_file.exists():
        create_master_key(key_file)
    with runtime.db.write() as session:
        p = session.scalars(select(Project).where(Project.name == "p")).one()
        exp = experiments.create_experiment(session, p, "exp", tags={"k": "v"})
        gone = experiments.create_experiment(session, p, "gone")
        experiments.delete_experiment(session, gone.experiment_id)
        run = runs.create_run(session, exp.experiment_id, user="alice", tags={"k": "v"})
        run_data.log_metric(session, run.info.run_id, MetricPoint("acc", 1.0, 1, 0))
        dead = runs.create_run(session, exp.experiment_id, user="alice")
        runs.delete_run(session, dead.info.run_id)
    artifacts.put_artifact(runtime.db, runtime.blobs, run.info.run_id, "f.txt", b"hello")
    return {
        "XEXP": exp.experiment_id,
        "XDELEXP": gone.experiment_id,
        "XRUN": run.info.run_id,
        "XDELRUN": dead.info.run_id,
    }
