"""Pipelines things in project ``p`` for access-control tests, named by placeholders in URLs:
pipeline ``etl`` with run ``PRUNLIVE`` (running, driven by its client, step ``load`` succeeded
with output ``POUTDIGEST``), ``PRUNDONE`` (succeeded, with a result), ``PRUNFAILED`` (failed,
over the compute seed's snapshot), schedule ``PSCHEDULE`` and trigger ``PTRIGGER`` (on dataset
``d`` of the data seed)."""

from __future__ import annotations

from sqlalchemy import select

from corridor.compute.sansio import payload
from corridor.pipelines import runs
from corridor.pipelines.models import (
    Pipeline,
    PipelineRun,
    PipelineSchedule,
    PipelineTrigger,
    StepRun,
)
from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.store.base import utcnow


def seed_pipelines(runtime: Runtime, snapshot: str) -> dict[str, str]:
    output = runtime.blobs.put(payload.encode([1, 2, 3]))
    result = runtime.blobs.put(payload.encode({"total": 6}))
    now = utcnow()
    with runtime.db.write() as session:
        p = session.scalars(select(Project).where(Project.name == "p")).one()
        pipeline = Pipeline(
            project_id=p.id,
            name="etl",
            module="work",
            qualname="f",
            snapshot=snapshot,
            params_spec=[],
            on_failure="fail_fast",
            run_counter=0,
            created_by="alice",
        )
        session.add(pipeline)
        session.flush()

        def run(state: str, driver: str = "client") -> str:
            made = runs.create_run(
                session,
                pipeline,
                params={},
                trigger="cli",
                created_by="alice",
                created_by_user_id=None,
                driver=driver,
            )
            made.state = state
            made.started_at = now
            if state in runs.TERMINAL:
                made.ended_at = now
            return made.id

        live = run("running")
        done = run("succeeded")
        failed = run("failed", driver="job")
        session.get_one(PipelineRun, done).result_digest = result
        session.add(
            StepRun(
                run_id=live,
                project_id=p.id,
                key="load",
                step="load",
                state="succeeded",
                in_process=True,
                attempts=1,
                inputs={},
                output_digest=output,
                output_kind="json",
                started_at=now,
                ended_at=now,
            )
        )
        schedule = PipelineSchedule(
            pipeline_id=pipeline.id,
            project_id=p.id,
            cron="0 * * * *",
            timezone="UTC",
            params={},
            missed="skip",
            enabled=True,
            created_by="alice",
        )
        trigger = PipelineTrigger(
            pipeline_id=pipeline.id,
            project_id=p.id,
            kind="dataset",
            dataset="d",
            params={},
            enabled=True,
            created_by="alice",
        )
        session.add_all([schedule, trigger])
        session.flush()
        ids = {
            "PRUNLIVE": live,
            "PRUNDONE": done,
            "PRUNFAILED": failed,
            "PSCHEDULE": schedule.id,
            "PTRIGGER": trigger.id,
            "POUTDIGEST": output,
        }
    return ids
