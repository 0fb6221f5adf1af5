"""The routes a run's driver calls (graph, step begin and finish, cache index, heartbeat, the
run's end), the reads of outputs, logs and results, and retry and cancel.

Every route finds its project from the run in the path (``project:write`` for changes,
``project:read`` for reads). Begin and cancel commit in their own write transaction, so that
compute's scheduler is woken only once the jobs they queued or cancelled are committed; the
request middleware records their audit events. A run that has ended refuses begin, finish and
graph with 409 until a retry reopens it.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request
from fastapi import Response as HttpResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.compute import jobs, scheduler_loop
from corridor.compute.models import Job
from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.pipelines import cache, run_control, run_listing, runs, step_finish, step_runs
from corridor.pipelines.api import RUN, run_access, run_project, view_of
from corridor.pipelines.models import StepRun
from corridor.pipelines.schemas import (
    CacheIndexIn,
    CacheIndexOut,
    GraphIn,
    RunFinish,
    RunOut,
    RunView,
    StepBeginBatch,
    StepFinishBatch,
    StepRunOut,
)
from corridor.security.models import Project
from corridor.security.policy import Permission
from corridor.web.blob_response import blob_response
from corridor.web.guard import Access, get_runtime, requires
from corridor.web.request_audit import ROUTINE
from corridor.web.sessions import ReadSession, WriteRoute, WriteSession

router = APIRouter(prefix="/api/v1", tags=["pipelines"], route_class=WriteRoute)

PAYLOAD_MEDIA_TYPE = "application/vnd.corridor.payload"
MAX_LOG_BYTES = 4 * 1024 * 1024
__all__ = ["router", "run_project"]


@router.put(RUN + "/graph", status_code=204)
def put_graph(
    run_id: str,
    body: GraphIn,
    session: WriteSession,
    access: Access = run_access(Permission.PROJECT_WRITE),
) -> HttpResponse:
    """Store the graph the driver built (once; the same graph again changes nothing)."""
    runs.put_graph(session, runs.get(session, run_id, lock=True), body.graph)
    return HttpResponse(status_code=204)


@router.post(RUN + "/steps/begin", response_model=list[StepRunOut])
def begin_steps(
    run_id: str,
    body: StepBeginBatch,
    request: Request,
    access: Access = run_access(Permission.PROJECT_WRITE),
) -> list[StepRunOut]:
    """Begin step runs: each key found as it is, else cached from the project's cache, else
    created running with its job queued (all in one transaction; a refusal names the step)."""
    runtime = get_runtime(request)
    with runtime.db.write() as session:
        run = runs.get(session, run_id, lock=True)
        rows, queued = step_runs.begin(
            session, runtime, run, access.project_or_fail, access.principal, body.steps
        )
        out = [step_runs.step_run_out(r) for r in rows]
    if queued:
        scheduler_loop.wake()
    return out


@router.post(RUN + "/steps/finish", response_model=list[StepRunOut])
def finish_steps(
    run_id: str,
    body: StepFinishBatch,
    request: Request,
    session: WriteSession,
    access: Access = run_access(Permission.PROJECT_WRITE),
) -> list[StepRunOut]:
    """Record how step runs ended (idempotent: the same end again is a no-op)."""
    run = runs.get(session, run_id, lock=True)
    rows = step_finish.finish(
        session, get_runtime(request), run, access.project_or_fail, body.steps
    )
    return [step_runs.step_run_out(r) for r in rows]


@router.post(RUN + "/cache-index", response_model=CacheIndexOut)
def cache_index(
    run_id: str,
    body: CacheIndexIn,
    request: Request,
    session: ReadSession,
    access: Access = run_access(Permission.PROJECT_WRITE),
) -> CacheIndexOut:
    """The project's cache hits for these code digests (cache key -> newest hit), so that a
    driver can decide in-process steps without one round trip each."""
    run = runs.get(session, run_id)
    if run.no_cache:
        return CacheIndexOut(entries={})
    blobs = get_runtime(request).blobs
    return CacheIndexOut(entries=cache.index(session, blobs, run.project_id, body.code_digests))


@router.post(RUN + "/heartbeat", status_code=204)
def heartbeat(
    run_id: str,
    request: Request,
    session: WriteSession,
    access: Access = run_access(Permission.PROJECT_WRITE),
) -> HttpResponse:
    """The driver is alive (every few seconds; only failures are audited)."""
    setattr(request.state, ROUTINE, True)
    runs.heartbeat(runs.get(session, run_id, lock=True))
    return HttpResponse(status_code=204)


@router.post(RUN + "/finish", response_model=RunOut)
def finish_run(
    run_id: str,
    body: RunFinish,
    request: Request,
    session: WriteSession,
    access: Access = run_access(Permission.PROJECT_WRITE),
) -> RunOut:
    """End the run with the pipeline's value (or its error) and revoke its token. Ending it
    again the same way changes nothing."""
    run = runs.get(session, run_id, lock=True)
    digest = None
    if body.result_b64 is not None and run.state not in runs.TERMINAL:
        try:
            data = base64.b64decode(body.result_b64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("result_b64 is not base64") from None
        step_finish.check_payload(data, "result_b64")
        digest = get_runtime(request).blobs.put(data)
    runs.end_run(
        session,
        run,
        body.state,
        error=body.error,
        result_digest=digest,
        result_kind=body.result_kind,
    )
    return run_listing.run_out(session, run)


@router.post(RUN + "/retry", response_model=RunView)
def retry_run(
    run_id: str, session: WriteSession, access: Access = run_access(Permission.PROJECT_WRITE)
) -> RunView:
    """Resume a failed or cancelled run: keep what succeeded, run the rest again (queued; a
    driver job drives it)."""
    run = runs.get(session, run_id, lock=True)
    run_control.retry(session, run)
    return view_of(session, run)


@router.post(RUN + "/cancel", response_model=RunOut)
def cancel_run(
    run_id: str, request: Request, access: Access = run_access(Permission.PROJECT_WRITE)
) -> RunOut:
    """Cancel the run, its running steps' jobs and its driver job."""
    runtime = get_runtime(request)
    with runtime.db.write() as session:
        run = runs.get(session, run_id, lock=True)
        cancelled = run_control.cancel(session, run)
        out = run_listing.run_out(session, run)
    if cancelled:
        scheduler_loop.wake()
    return out


def _step(session: Session, run_id: str, key: str) -> StepRun:
    run = runs.get(session, run_id)
    row = step_runs.by_keys(session, run.id, [key]).get(key)
    if row is None:
        raise NotFound(f"pipeline run {run.number} has no step {key!r}")
    return row


@router.get(
    RUN + "/steps/{key}/output",
    response_class=HttpResponse,
    responses={200: {"content": {PAYLOAD_MEDIA_TYPE: {}}}},
)
def step_output(
    run_id: str, key: str, request: Request, session: ReadSession, access: Access = run_access()
) -> HttpResponse:
    """The step's output payload; 409 while it has none."""
    row = _step(session, run_id, key)
    if row.output_digest is None:
        raise Conflict(f"step {key!r} has no output (it is {row.state})")
    blobs = get_runtime(request).blobs
    digest = row.output_digest
    return blob_response(blobs.open(digest), blobs.size(digest), media_type=PAYLOAD_MEDIA_TYPE)


@router.get(
    RUN + "/steps/{key}/logs",
    response_class=HttpResponse,
    responses={200: {"content": {"text/plain": {}}}},
)
def step_logs(
    run_id: str, key: str, request: Request, session: ReadSession, access: Access = run_access()
) -> HttpResponse:
    """The step's output: an in-process step's captured stdout and stderr, else its job's log
    (the latest attempt, at most 4 MiB; the job's own routes page through more). A cached
    step shows the logs of the step run whose output it reused."""
    row = _step(session, run_id, key)
    if row.cached_from is not None:
        # A cache hit ran nothing: its output is the original step run's, and so are its logs.
        row = session.get(StepRun, row.cached_from) or row
    data = b""
    if row.logs_digest is not None:
        with get_runtime(request).blobs.open(row.logs_digest) as stream:
            data = stream.read()
    elif row.job_id is not None:
        job = session.get(Job, row.job_id)
        if job is not None:
            data = jobs.read_logs(
                session, job, attempt=None, offset=0, max_bytes=MAX_LOG_BYTES
            ).data
    return HttpResponse(content=data, media_type="text/plain; charset=utf-8")


@router.get(
    RUN + "/result",
    response_class=HttpResponse,
    responses={200: {"content": {PAYLOAD_MEDIA_TYPE: {}}}},
)
def run_result(
    run_id: str, request: Request, session: ReadSession, access: Access = run_access()
) -> HttpResponse:
    """The pipeline's value (payload encoding); 409 unless the run stored one."""
    run = runs.get(session, run_id)
    if run.result_digest is None:
        raise Conflict(f"pipeline run {run.number} has no result (it is {run.state})")
    blobs = get_runtime(request).blobs
    digest = run.result_digest
    return blob_response(blobs.open(digest), blobs.size(digest), media_type=PAYLOAD_MEDIA_TYPE)


@router.get(
    "/projects/{project}/pipeline-artifacts/{digest}",
    response_class=HttpResponse,
    responses={200: {"content": {PAYLOAD_MEDIA_TYPE: {}}}},
)
def artifact(
    project: str,
    digest: str,
    request: Request,
    session: ReadSession,
    access: Access = requires(Permission.PROJECT_READ),
) -> HttpResponse:
    """The payload of an output a step run of this project holds (a cached step's output,
    read by the driver that reuses it); 404 for any other digest."""
    if not _project_holds(session, access.project_or_fail, digest):
        raise NotFound(f"no step output {digest[:12]!r}… in project {project!r}")
    blobs = get_runtime(request).blobs
    return blob_response(blobs.open(digest), blobs.size(digest), media_type=PAYLOAD_MEDIA_TYPE)


def _project_holds(session: Session, project: Project, digest: str) -> bool:
    if len(digest) != 64:
        return False
    found = session.scalar(
        select(StepRun.id)
        .where(StepRun.project_id == project.id, StepRun.output_digest == digest)
        .limit(1)
    )
    return found is not None
