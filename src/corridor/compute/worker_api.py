"""The routes a job's worker calls back, with its job token (``Permission.JOB_WORKER``).

The guard lets a job token call these routes only for its own job and attempt (the path's
``job_id`` and ``attempt``), and refuses user tokens here. Every route is then fenced: it
answers 409 unless the attempt is the job's current one and still live, so a worker whose
lease ran out (and that a new attempt replaced) learns so on its next call and stops its job.
A worker reads only what its own job declared (its snapshot, its input, the datasets it
named, with the consumption rules applied for the job's project, its job's checkpoints) and
writes only its own logs, result, state, checkpoints and linked run.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from corridor.compute import attempts, checkpoints, scheduler_loop, site_table
from corridor.compute.api import PAYLOAD_MEDIA_TYPE
from corridor.compute.models import Job
from corridor.compute.schemas import (
    AckOut,
    FinishedIn,
    FunctionRefOut,
    HeartbeatOut,
    ResourcesOut,
    RunMetricsIn,
    StartedIn,
    WorkOut,
)
from corridor.data import consumption
from corridor.data import datasets as ds
from corridor.errors import Conflict, NotFound
from corridor.security import projects
from corridor.security.policy import Permission
from corridor.store.base import utcnow
from corridor.web.blob_response import blob_response
from corridor.web.bodies import blocking_chunks
from corridor.web.guard import Access, get_runtime, requires
from corridor.web.request_audit import ROUTINE
from corridor.web.sessions import ReadSession, WriteRoute, WriteSession

router = APIRouter(prefix="/api/v1", tags=["compute workers"], route_class=WriteRoute)

ATTEMPT = "/jobs/{job_id}/attempts/{attempt}"
# Checkpoints stream at any size (a model's weights and optimiser state): exempt from the
# request body limit, as the path template the middleware matches.
CHECKPOINT_PATH = "/api/v1/jobs/{}/attempts/{}/checkpoint"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
AttemptPath = Path(ge=1, le=1_000_000)


def _raw_body(description: str) -> dict[str, object]:
    """The OpenAPI description of a raw body (the route reads the stream itself)."""
    content = {"application/octet-stream": {"schema": {"type": "string"}}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def _worker() -> Any:
    return requires(Permission.JOB_WORKER)


@router.get(ATTEMPT + "/work", response_model=WorkOut)
def work(
    job_id: str,
    request: Request,
    session: ReadSession,
    attempt: int = AttemptPath,
    access: Access = _worker(),
) -> WorkOut:
    """What to run: the command or function, its environment, snapshot, limits and leases."""
    job, row = attempts.fenced(session, job_id, attempt, lock=False)
    settings = get_runtime(request).settings
    spec = job.spec or {}
    function = spec.get("function")
    return WorkOut(
        job_id=job.id,
        attempt=attempt,
        kind="function" if job.kind == "function" else "command",
        argv=spec.get("argv"),
        function=FunctionRefOut.model_validate(function) if function else None,
        env=dict(spec.get("env") or {}),
        snapshot=job.snapshot_digest,
        has_input=job.input_digest is not None,
        timeout_s=job.timeout_s,
        heartbeat_s=settings.job_heartbeat_s,
        lease_s=settings.job_lease_s,
        datasets=[str(d.get("ref")) for d in spec.get("datasets") or []],
        run_id=job.run_id,
        resources=ResourcesOut(cpus=job.cpus, memory_bytes=job.memory_bytes, gpus=job.gpus),
        workers=job.workers,
        gpu_indices=list(row.gpu_indices or []),
    )


def _blob(request: Request, digest: str | None, media_type: str, missing: str) -> StreamingResponse:
    """The job's stored blob ``digest`` as a streamed reply; NotFound(``missing``) if none."""
    if digest is None:
        raise NotFound(missing)
    blobs = get_runtime(request).blobs
    return blob_response(blobs.open(digest), blobs.size(digest), media_type=media_type)


@router.get(ATTEMPT + "/snapshot", response_class=StreamingResponse)
def snapshot(
    job_id: str,
    request: Request,
    session: ReadSession,
    attempt: int = AttemptPath,
    access: Access = _worker(),
) -> StreamingResponse:
    """The job's code snapshot (tar.gz)."""
    job, _ = attempts.fenced(session, job_id, attempt, lock=False)
    return _blob(
        request, job.snapshot_digest, "application/gzip", f"job {job_id} has no code snapshot"
    )


@router.get(ATTEMPT + "/input", response_class=StreamingResponse)
def job_input(
    job_id: str,
    request: Request,
    session: ReadSession,
    attempt: int = AttemptPath,
    access: Access = _worker(),
) -> StreamingResponse:
    """The function's encoded arguments."""
    job, _ = attempts.fenced(session, job_id, attempt, lock=False)
    return _blob(request, job.input_digest, PAYLOAD_MEDIA_TYPE, f"job {job_id} has no input")


@router.get(ATTEMPT + "/datasets/{index}", response_class=StreamingResponse)
def job_dataset(
    job_id: str,
    request: Request,
    session: ReadSession,
    attempt: int = AttemptPath,
    index: int = Path(ge=0, le=1000),
    access: Access = _worker(),
) -> StreamingResponse:
    """A dataset the job declared (by its position), as Parquet; the consumption rules apply
    for the job's own project, as they did when it was submitted."""
    job, _ = attempts.fenced(session, job_id, attempt, lock=False)
    declared = (job.spec or {}).get("datasets") or []
    if index >= len(declared):
        raise NotFound(f"job {job_id} declared {len(declared)} datasets; there is no {index}")
    resolved = ds.resolve_by_id(session, str(declared[index]["version_id"]))
    project = projects.get_by_id(session, job.project_id)
    consumption.consume(resolved, project)
    return blob_response(
        get_runtime(request).blobs.open(resolved.version.digest),
        resolved.version.size_bytes,
        media_type=PARQUET_MEDIA_TYPE,
        headers={"x-corridor-version": resolved.label},
    )


@router.post(ATTEMPT + "/started", response_model=HeartbeatOut)
def started(
    job_id: str,
    body: StartedIn,
    request: Request,
    session: WriteSession,
    attempt: int = AttemptPath,
    access: Access = _worker(),
) -> HeartbeatOut:
    """The worker reports in: the job is running (its lease starts now)."""
    lease_s = get_runtime(request).settings.job_lease_s
    attempts.started(
        session, job_id, attempt, host=body.host, pid=body.pid, now=utcnow(), lease_s=lease_s
    )
    cancel, lease = attempts.heartbeat(session, job_id, attempt, now=utcnow(), lease_s=lease_s)
    return HeartbeatOut(cancel=cancel, lease_expires_at=lease)


@router.post(ATTEMPT + "/heartbeat", response_model=HeartbeatOut)
def heartbeat(
    job_id: str,
    request: Request,
    session: WriteSession,
    attempt: int = AttemptPath,
    access: Access = _worker(),
) -> HeartbeatOut:
    """Extend the attempt's lease; ``cancel`` says the job was cancelled (kill it, report)."""
    setattr(request.state, ROUTINE, True)
    lease_s = get_runtime(request).settings.job_lease_s
    cancel, lease = attempts.heartbeat(session, job_id, attempt, now=utcnow(), lease_s=lease_s)
    return HeartbeatOut(cancel=cancel, lease_expires_at=lease)


def _state(session: Session, job_id: str) -> AckOut:
    job = session.get(Job, job_id)
    assert job is not None
    return AckOut(job_state=job.state, cancel=job.cancel_requested)


@router.post(
    ATTEMPT + "/logs",
    response_model=AckOut,
    openapi_extra=_raw_body("a chunk of the job's output, as written"),
)
async def append_logs(
    job_id: str,
    request: Request,
    attempt: int = AttemptPath,
    seq: int = Query(ge=0, le=attempts.MAX_SEQ, description="chunk number, from 0"),
    access: Access = _worker(),
) -> AckOut:
    """Store chunk ``seq`` of the attempt's output (raw bytes); sending it again is harmless."""
    setattr(request.state, ROUTINE, True)
    runtime = get_runtime(request)
    data = await request.body()

    def run() -> AckOut:
        with runtime.db.write() as session:
            attempts.append_log(session, job_id, attempt, seq=seq, data=data, now=utcnow())
            return _state(session, job_id)

    return await anyio.to_thread.run_sync(run)


@router.put(
    ATTEMPT + "/result",
    response_model=AckOut,
    openapi_extra=_raw_body("the result in Corridor's payload encoding"),
)
async def put_result(
    job_id: str, request: Request, attempt: int = AttemptPath, access: Access = _worker()
) -> AckOut:
    """Store the function's result (Corridor's payload encoding, never a pickle)."""
    runtime = get_runtime(request)
    data = await request.body()

    def run() -> AckOut:
        with runtime.db.read() as session:
            attempts.fenced(session, job_id, attempt, lock=False)
        digest = runtime.blobs.put(data)
        with runtime.db.write() as session:
            attempts.store_result(session, job_id, attempt, digest=digest)
            return _state(session, job_id)

    return await anyio.to_thread.run_sync(run)


@router.post(ATTEMPT + "/finished", response_model=AckOut)
def finished(
    job_id: str,
    body: FinishedIn,
    request: Request,
    attempt: int = AttemptPath,
    access: Access = _worker(),
) -> AckOut:
    """How the attempt ended and the energy it used; the job succeeds, retries or fails."""
    # Its own transaction, not WriteSession's: the scheduler is woken once the end is committed
    # (the room it frees is read by the next tick).
    runtime = get_runtime(request)
    sites = site_table.current_sites(runtime.settings)
    with runtime.db.write() as session:
        _, row = attempts.fenced(session, job_id, attempt)
        job = attempts.finished(
            session, job_id, attempt, body, now=utcnow(), site=sites.get(row.site)
        )
        out = AckOut(job_state=job.state, cancel=job.cancel_requested)
    scheduler_loop.wake()
    return out


@router.post(ATTEMPT + "/run-metrics", response_model=AckOut)
def run_metrics(
    job_id: str,
    body: RunMetricsIn,
    session: WriteSession,
    attempt: int = AttemptPath,
    access: Access = _worker(),
) -> AckOut:
    """Log metric points to the job's linked tracking run (and to no other run)."""
    from corridor.tracking import run_data

    job, _ = attempts.fenced(session, job_id, attempt)
    if job.run_id is None:
        raise Conflict(f"job {job_id} is linked to no run; submit it with run_id")
    run_data.log_batch_rows(
        session,
        job.run_id,
        metrics=[(m.key, m.value, m.timestamp_ms, m.step) for m in body.metrics],
    )
    return AckOut(job_state=job.state, cancel=job.cancel_requested)


@router.put(
    ATTEMPT + "/checkpoint",
    response_model=AckOut,
    openapi_extra=_raw_body("the checkpoint's bytes, in whatever format the job reads back"),
)
async def put_checkpoint(
    job_id: str,
    request: Request,
    attempt: int = AttemptPath,
    step: int = Query(ge=0, le=2**62, description="the job's progress count, e.g. global step"),
    access: Access = _worker(),
) -> AckOut:
    """Store a checkpoint of the job (raw body, streamed into the blob store); a later attempt
    of the same job reads the newest one back."""
    setattr(request.state, ROUTINE, True)
    runtime = get_runtime(request)

    def run() -> AckOut:
        # Fenced before the body is stored (a replaced worker stores nothing) and again, under
        # the job's lock, when the row is written.
        with runtime.db.read() as session:
            attempts.fenced(session, job_id, attempt, lock=False)
        digest = runtime.blobs.put(blocking_chunks(request.stream()))
        size = runtime.blobs.size(digest)
        with runtime.db.write() as session:
            attempts.fenced(session, job_id, attempt)
            checkpoints.store(session, job_id, attempt, step=step, digest=digest, size_bytes=size)
            return _state(session, job_id)

    return await anyio.to_thread.run_sync(run)


@router.get(ATTEMPT + "/checkpoint", response_class=StreamingResponse)
def get_checkpoint(
    job_id: str,
    request: Request,
    session: ReadSession,
    attempt: int = AttemptPath,
    access: Access = _worker(),
) -> StreamingResponse:
    """The job's newest checkpoint, written by this attempt or an earlier one (404: none yet);
    ``x-corridor-checkpoint-attempt`` and ``x-corridor-checkpoint-step`` say which it is."""
    attempts.fenced(session, job_id, attempt, lock=False)
    row = checkpoints.newest(session, job_id)
    blobs = get_runtime(request).blobs
    return blob_response(
        blobs.open(row.digest),
        row.size_bytes,
        media_type="application/octet-stream",
        headers={
            "x-corridor-checkpoint-attempt": str(row.attempt),
            "x-corridor-checkpoint-step": str(row.step),
        },
    )
