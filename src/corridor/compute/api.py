"""The user routes of the compute slice: submit, list, follow and cancel jobs; code snapshots;
sites; energy.

Job item routes (``/jobs/{job_id}...``) find their project from the job, so a job of a project
the caller cannot read is not found, like the project itself. Waiting (``/wait``, ``/logs``
with ``follow``) polls the database in short reads between sleeps on the event loop, so a
client waiting for minutes holds no pooled connection and no worker thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi import Response as HttpResponse
from sqlalchemy.orm import Session

from corridor.compute import jobs, scheduler_loop, scheduler_rows, site_table, submission
from corridor.compute.energy_report import ReportBy, energy_report
from corridor.compute.models import Job
from corridor.compute.sansio.states import TERMINAL, JobState
from corridor.compute.schemas import (
    AttemptOut,
    CandidateOut,
    EnergyRow,
    ExplainOut,
    JobBatchIn,
    JobOut,
    JobSubmit,
    ResourcesOut,
    SiteOut,
)
from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.security.policy import Permission, Principal
from corridor.store.base import utcnow
from corridor.web.blob_response import blob_response
from corridor.web.guard import Access, get_runtime, requires
from corridor.web.sessions import READ_SESSION, ReadSession

router = APIRouter(prefix="/api/v1", tags=["compute"])

PAYLOAD_MEDIA_TYPE = "application/vnd.corridor.payload"
NEXT_PAGE_HEADER = "x-corridor-next-page-token"
MAX_WAIT_S = 60.0
POLL_S = 0.2
MAX_LOG_READ_BYTES = 4 * 1024 * 1024


def job_project(request: Request, session: Session) -> str:
    """The project of the job named in the path (for the guard)."""
    return jobs.project_of_job(session, str(request.path_params.get("job_id", "")))


def _job_read(permission: Permission = Permission.PROJECT_READ) -> Any:
    return requires(permission, project_from=job_project)


def _submit(
    runtime: Runtime, project: Project, principal: Principal, bodies: list[JobSubmit]
) -> list[JobOut]:
    now = utcnow()
    sites = site_table.current_sites(runtime.settings)
    # Capacity the scheduler loop discovered from each site's executor (Ray sites that declare
    # none): a submit is judged against what the site really has.
    discovered = {name: site_table.site_state(runtime.settings, name)[1] for name in sites}
    with runtime.db.read() as session:
        drafts = submission.check_all(
            session, project, principal, bodies, sites=sites, now=now, discovered=discovered
        )
    digests = submission.store_inputs(runtime.blobs, drafts)
    with runtime.db.write() as session:
        created = submission.insert(session, drafts, digests, now)
        out = [jobs.job_out(job, project.name) for job in created]
    scheduler_loop.wake()
    return out


@router.post("/projects/{project}/jobs", response_model=JobOut, status_code=201)
def submit_job(
    project: str,
    body: JobSubmit,
    request: Request,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> JobOut:
    """Queue a job: a command or a function, what it needs, and how to place and retry it.
    Everything is checked first; a refusal names the problem and queues nothing."""
    runtime = get_runtime(request)
    return _submit(runtime, access.project_or_fail, access.principal, [body])[0]


@router.post("/projects/{project}/jobs/batch", response_model=list[JobOut], status_code=201)
def submit_jobs(
    project: str,
    body: JobBatchIn,
    request: Request,
    access: Access = requires(Permission.PROJECT_WRITE),
) -> list[JobOut]:
    """Queue many jobs at once: all of them, or (on any refusal) none."""
    runtime = get_runtime(request)
    return _submit(runtime, access.project_or_fail, access.principal, list(body.jobs))


@router.get("/projects/{project}/jobs", response_model=list[JobOut])
def list_jobs(
    project: str,
    response: HttpResponse,
    state: JobState | None = Query(None, description="only jobs in this state"),
    limit: int = Query(100, ge=1, le=jobs.MAX_LIST),
    page_token: str | None = Query(None, max_length=2000),
    session: Session = READ_SESSION,
    access: Access = requires(Permission.PROJECT_READ),
) -> list[JobOut]:
    """The project's jobs, newest first; the next page's token is in
    ``x-corridor-next-page-token``."""
    found, next_token = jobs.list_jobs(
        session,
        access.project_or_fail,
        state=state.value if state is not None else None,
        limit=limit,
        page_token=page_token,
    )
    if next_token is not None:
        response.headers[NEXT_PAGE_HEADER] = next_token
    return found


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: str, session: ReadSession, access: Access = _job_read()) -> JobOut:
    return jobs.job_out(jobs.get(session, job_id), access.project_or_fail.name)


def _read_job(runtime: Runtime, job_id: str) -> Job:
    with runtime.db.read() as session:
        return jobs.get(session, job_id)


@router.get("/jobs/{job_id}/wait", response_model=JobOut)
async def wait_job(
    job_id: str,
    request: Request,
    timeout_s: float = Query(30.0, ge=0, le=MAX_WAIT_S, allow_inf_nan=False),
    access: Access = _job_read(),
) -> JobOut:
    """The job once it has ended, or as it is when ``timeout_s`` passes."""
    runtime = get_runtime(request)
    deadline = time.monotonic() + timeout_s
    while True:
        job = await anyio.to_thread.run_sync(_read_job, runtime, job_id)
        if JobState(job.state) in TERMINAL or time.monotonic() >= deadline:
            return jobs.job_out(job, access.project_or_fail.name)
        await asyncio.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))


def _read_logs(
    runtime: Runtime, job_id: str, attempt: int | None, offset: int
) -> tuple[jobs.LogSlice, str]:
    with runtime.db.read() as session:
        job = jobs.get(session, job_id)
        found = jobs.read_logs(
            session, job, attempt=attempt, offset=offset, max_bytes=MAX_LOG_READ_BYTES
        )
        return found, job.state


@router.get(
    "/jobs/{job_id}/logs",
    response_class=HttpResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def job_logs(
    job_id: str,
    request: Request,
    attempt: int | None = Query(None, ge=1, le=1_000_000, description="default: the latest"),
    offset: int = Query(0, ge=0, le=2**62, description="byte offset into the attempt's output"),
    follow: bool = Query(False, description="wait (up to 25 s) for output past the offset"),
    access: Access = _job_read(),
) -> HttpResponse:
    """The attempt's output from ``offset``, exactly as written. Continue from the offset in
    ``x-corridor-next-offset``; ``follow`` waits for more while the job has not ended."""
    runtime = get_runtime(request)
    deadline = time.monotonic() + 25.0
    while True:
        found, state = await anyio.to_thread.run_sync(_read_logs, runtime, job_id, attempt, offset)
        if found.data or not follow or JobState(state) in TERMINAL:
            break
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_S)
    return HttpResponse(
        content=found.data,
        media_type="application/octet-stream",
        headers={
            "x-corridor-next-offset": str(found.next_offset),
            "x-corridor-job-state": state,
            "x-corridor-attempt": str(found.attempt),
        },
    )


@router.get(
    "/jobs/{job_id}/result",
    response_class=HttpResponse,
    responses={200: {"content": {PAYLOAD_MEDIA_TYPE: {}}}},
)
def job_result(
    job_id: str,
    request: Request,
    session: ReadSession,
    access: Access = _job_read(),
) -> HttpResponse:
    """The function's result (Corridor's payload encoding); 409 unless the job succeeded."""
    digest = jobs.result_digest(jobs.get(session, job_id))
    runtime = get_runtime(request)
    return blob_response(
        runtime.blobs.open(digest), runtime.blobs.size(digest), media_type=PAYLOAD_MEDIA_TYPE
    )


@router.get("/jobs/{job_id}/attempts", response_model=list[AttemptOut])
def job_attempts(
    job_id: str, session: ReadSession, access: Access = _job_read()
) -> list[AttemptOut]:
    """The job's attempts, oldest first: site, host, times, exit, error and energy of each."""
    jobs.get(session, job_id)
    return [AttemptOut.model_validate(a) for a in jobs.attempt_rows(session, job_id)]


@router.post("/jobs/{job_id}/cancel", response_model=JobOut)
def cancel_job(
    job_id: str,
    request: Request,
    access: Access = _job_read(Permission.PROJECT_WRITE),
) -> JobOut:
    """Cancel: at once if no worker runs the job yet, else its worker kills the whole process
    tree (the scheduler forces it if the worker does not answer)."""
    # Its own transaction, not WriteSession's: the scheduler is woken once the cancel is
    # committed, so that its next read sees it.
    runtime = get_runtime(request)
    with runtime.db.write() as session:
        job = jobs.cancel(session, job_id, now=utcnow())
        out = jobs.job_out(job, access.project_or_fail.name)
    scheduler_loop.wake()
    return out


@router.get("/jobs/{job_id}/explain", response_model=ExplainOut)
def explain_job(job_id: str, session: ReadSession, access: Access = _job_read()) -> ExplainOut:
    """The candidate sites the scheduler weighed for the job, their scores and its choice."""
    job = jobs.get(session, job_id)
    stored = job.explanation or {}
    if not stored:
        reason = (
            "the scheduler has not considered it yet"
            if job.state == JobState.QUEUED
            else f"no decision was recorded (the job is {job.state})"
        )
        return ExplainOut(
            job_id=job.id,
            objective=job.objective,
            decided_at=None,
            chosen=None,
            start_at=None,
            reason=reason,
            candidates=[],
        )
    return ExplainOut(
        job_id=job.id,
        objective=str(stored.get("objective") or job.objective),
        decided_at=_time(stored.get("decided_at")),
        chosen=stored.get("chosen"),
        start_at=_time(stored.get("start_at")),
        reason=str(stored.get("reason") or ""),
        candidates=[CandidateOut.model_validate(c) for c in stored.get("candidates") or []],
    )


def _time(value: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


@router.get("/sites", response_model=list[SiteOut])
def list_sites(
    request: Request, session: ReadSession, access: Access = requires(Permission.AUTHENTICATED)
) -> list[SiteOut]:
    """Every site: capacity, what placed and running jobs hold, and price and carbon now."""
    settings = get_runtime(request).settings
    sites = site_table.current_sites(settings)
    holding = scheduler_rows.read_holding(session)
    now = time.time()
    out = []
    for site in sites.values():
        up, discovered = site_table.site_state(settings, site.name)
        capacity = site.capacity(discovered)
        used = holding.used[site.name]
        out.append(
            SiteOut(
                name=site.name,
                executor=site.executor,
                region=site.region,
                capacity=ResourcesOut(
                    cpus=capacity.cpus, memory_bytes=capacity.memory_bytes, gpus=capacity.gpus
                ),
                used=ResourcesOut(cpus=used.cpus, memory_bytes=used.memory_bytes, gpus=used.gpus),
                gpu_types=sorted(site.gpu_types),
                price_per_kwh_now=site.energy_price.trace.value_at(now),
                carbon_g_per_kwh_now=site.carbon_intensity.trace.value_at(now),
                pue=site.pue,
                cost_per_hour=site.cost_per_hour,
                up=up,
                notes=list(site.notes(now)),
            )
        )
    return out


@router.get("/energy/report", response_model=list[EnergyRow])
def report_energy(
    session: ReadSession,
    by: ReportBy = Query("project"),
    project: str | None = Query(None, max_length=64, description="only this project's jobs"),
    access: Access = requires(Permission.AUTHENTICATED),
) -> list[EnergyRow]:
    """Energy, carbon and cost of the jobs you can read, summed by project, site, day or run."""
    return [
        EnergyRow(
            key=t.key,
            jobs=t.jobs,
            energy_j=t.energy_j,
            carbon_g=t.carbon_g,
            cost=t.cost,
            methods=t.methods,
        )
        for t in energy_report(session, access.principal, by, project=project)
    ]
