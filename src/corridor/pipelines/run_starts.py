"""Starting a queued run: for a server-driven run, mint its token and queue its driver job.

The driver job is a compute function job, ``corridor.pipelines.driver.driver_job:drive`` from the
installed package, over the run's code snapshot; its input carries the run's id and token (the
input blob is encrypted at rest; the token is stored hashed). Token, job and the run's move to
``running`` are one transaction, the caller's, so a crash between them leaves the run queued
with nothing minted or queued.
"""

from __future__ import annotations

import base64
import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.compute.sansio import payload
from corridor.compute.schemas import FunctionRefIn, JobSubmit
from corridor.pipelines import compute_jobs, run_tokens
from corridor.pipelines.models import Pipeline, PipelineRun
from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.store.base import utcnow

DRIVER_MODULE = "corridor.pipelines.driver.driver_job"
DRIVER_QUALNAME = "drive"
DRIVER_RETRIES = 2


def driver_job_body(run: PipelineRun, pipeline_name: str, token: str) -> JobSubmit:
    """The compute job that drives ``run`` with ``token``."""
    return JobSubmit(
        function=FunctionRefIn(module=DRIVER_MODULE, qualname=DRIVER_QUALNAME, source="installed"),
        input_b64=_b64(payload.encode_call((), {"run_id": run.id, "token": token})),
        snapshot=run.snapshot,
        name=f"pipeline {pipeline_name} run {run.number}"[:128],
        retries=DRIVER_RETRIES,
        site=run.site,
        env={"PIPELINE_RUN_ID": run.id},
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def start_queued_run(
    session: Session, runtime: Runtime, run: PipelineRun, *, now: dt.datetime | None = None
) -> None:
    """Move a queued run to running; for ``driver="job"``, mint its token and queue its driver
    job in ``session``. `InvalidInput` if compute refuses the job (nothing is queued then; the
    caller may `corridor.pipelines.runs.fail_run` the run). Wake compute's scheduler after the
    commit."""
    now = now or utcnow()
    if run.state != "queued":
        return
    if run.driver == "job":
        project = session.get(Project, run.project_id)
        name = session.scalar(select(Pipeline.name).where(Pipeline.id == run.pipeline_id))
        assert project is not None
        assert name is not None
        principal = Principal(user_id=run.created_by_user_id, name=run.created_by, is_admin=False)
        token_id, secret = run_tokens.mint(session, run, now=now)
        body = driver_job_body(run, name, secret)
        drafts = compute_jobs.check(session, runtime, project, principal, [body], now=now)
        (job,) = compute_jobs.insert(session, runtime, drafts, now=now)
        run.driver_job_id = job.id
        run.run_token_id = token_id
    run.state = "running"
    run.started_at = now
    run.driver_seen_at = now
