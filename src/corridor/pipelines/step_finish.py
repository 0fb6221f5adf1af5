"""Finishing step runs: record how each ended, store its output and logs, link its lineage.

A finish is idempotent: ending a step run again in the state it ended in is a no-op that returns
the row (a ``succeeded`` finish of a ``cached`` row counts as the same end); another state is a
`Conflict`. A key with no row yet may end directly (an in-process step recorded after it ran
carries its begin fields in ``begin``; a skipped or upstream-failed step needs none). Every
entry is checked, and its output decoded as a payload, before the first row changes; blobs
stored by a batch that is then refused are left for the blob sweep.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Sequence

from sqlalchemy.orm import Session

from corridor.compute.models import Job
from corridor.compute.sansio import payload
from corridor.errors import Conflict, CorridorError, InvalidInput
from corridor.pipelines import step_lineage
from corridor.pipelines.models import PipelineRun, StepRun
from corridor.pipelines.runs import check_open
from corridor.pipelines.schemas import StepBegin, StepFinish
from corridor.pipelines.step_runs import ENDED, by_keys, named, new_row
from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.store.base import utcnow
from corridor.store.blobs import BlobStore

# A finish without begin fields may create its row only in these states (nothing ran).
_DIRECT = frozenset({"skipped", "upstream_failed", "failed", "cancelled"})
_SUFFIX = re.compile(r"(\[\d+\]|-\d+)$")


def _decode_b64(text: str, key: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(named(f"{what} is not base64", key)) from None


def check_payload(data: bytes, what: str) -> None:
    """`InvalidInput` unless ``data`` is a payload (Corridor's encoding) that decodes."""
    try:
        payload.decode(data)
    except CorridorError as exc:
        raise InvalidInput(f"{what} is not a valid payload: {exc.message}") from None
    except Exception as exc:  # a corrupt part of a library's format (npy, Arrow, Parquet)
        raise InvalidInput(f"{what} is not a valid payload: {type(exc).__name__}") from None


def _pend(pending: dict[str, bytes], data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    pending[digest] = data
    return digest


def _store_one(blobs: BlobStore, digest: str, data: bytes) -> None:
    # Content the store holds already (many trivial steps return the same value) costs a touch,
    # not an encrypted, synced write.
    if not blobs.touch(digest):
        stored = blobs.put(data)
        assert stored == digest


def _store_all(blobs: BlobStore, pending: dict[str, bytes]) -> None:
    """Store a batch's distinct blobs (a batch of trivial steps often repeats one value)."""
    for digest, data in pending.items():
        _store_one(blobs, digest, data)


def _same_end(row: StepRun, state: str) -> bool:
    return row.state == state or (row.state == "cached" and state == "succeeded")


def _begin_of(entry: StepFinish) -> StepBegin:
    if entry.begin is not None:
        if entry.begin.key != entry.key:
            raise InvalidInput(named("its begin fields name another key", entry.key))
        return entry.begin
    if entry.state not in _DIRECT:
        raise InvalidInput(
            named(
                f"it was never begun; finishing it {entry.state} needs its begin fields", entry.key
            )
        )
    return StepBegin(key=entry.key, step=_SUFFIX.sub("", entry.key)[:128] or entry.key)


def finish(
    session: Session,
    runtime: Runtime,
    run: PipelineRun,
    project: Project,
    entries: Sequence[StepFinish],
    *,
    now: dt.datetime | None = None,
) -> list[StepRun]:
    """Finish the batch (see the module docstring); the step runs in batch order."""
    now = now or utcnow()
    check_open(run)
    if run.state != "running":
        raise Conflict(f"pipeline run {run.number} is {run.state}: it has not started yet")
    seen: set[str] = set()
    for entry in entries:
        if entry.key in seen:
            raise InvalidInput(named("the batch names this key twice", entry.key))
        seen.add(entry.key)
    rows = by_keys(session, run.id, seen)
    planned: list[tuple[StepFinish, StepRun | None, StepBegin | None]] = []
    for entry in entries:
        row = rows.get(entry.key)
        if row is not None and row.state in ENDED:
            if not _same_end(row, entry.state):
                raise Conflict(
                    named(
                        f"it has ended already ({row.state}); it cannot end {entry.state}",
                        entry.key,
                    )
                )
            planned.append((entry, row, None))
            continue
        if entry.output_b64 is not None and entry.output_from_job:
            raise InvalidInput(named("give output_b64 or output_from_job, not both", entry.key))
        if entry.output_from_job:
            job = session.get(Job, row.job_id) if row is not None and row.job_id else None
            if job is None or job.state != "succeeded" or job.result_digest is None:
                state = job.state if job is not None else "missing"
                raise Conflict(
                    named(f"its job has no result to use as output ({state})", entry.key)
                )
        planned.append((entry, row, _begin_of(entry) if row is None else None))
    # Decode and store outputs and logs first: a bad one refuses the batch before any row moves.
    outputs: dict[str, tuple[str, int]] = {}
    logs: dict[str, str] = {}
    pending: dict[str, bytes] = {}
    for entry, row, _ in planned:
        if row is not None and row.state in ENDED:
            continue
        if entry.output_from_job:
            job = session.get(Job, row.job_id) if row is not None and row.job_id else None
            assert job is not None
            assert job.result_digest is not None
            outputs[entry.key] = (job.result_digest, runtime.blobs.size(job.result_digest))
        if entry.output_b64 is not None:
            data = _decode_b64(entry.output_b64, entry.key, "output_b64")
            check_payload(data, named("output_b64", entry.key))
            outputs[entry.key] = (_pend(pending, data), len(data))
        if entry.logs_b64 is not None:
            logs[entry.key] = _pend(pending, _decode_b64(entry.logs_b64, entry.key, "logs_b64"))
    _store_all(runtime.blobs, pending)
    done: dict[str, StepRun] = {}
    made: list[tuple[StepRun, StepBegin]] = []
    changed: list[StepFinish] = []
    for entry, row, begun in planned:
        if row is not None and row.state in ENDED:
            done[entry.key] = row
            continue
        if row is None:
            assert begun is not None
            row = new_row(run, begun, state="running", now=now)
            made.append((row, begun))
        _apply(session, row, entry, outputs.get(entry.key), logs.get(entry.key), now)
        done[entry.key] = row
        changed.append(entry)
    # One flush for the new rows (ids are set in Python), then the lineage that names them.
    session.add_all(row for row, _ in made)
    session.flush()
    for row, begun in made:
        if begun.input_refs:
            nodes = step_lineage.resolve(session, project, begun.input_refs)
            step_lineage.link_inputs(session, row.id, nodes)
    for entry in changed:
        if entry.output_refs:
            nodes = step_lineage.resolve(session, project, entry.output_refs)
            step_lineage.link_outputs(session, done[entry.key].id, nodes)
    run.driver_seen_at = now
    return [done[e.key] for e in entries]


def _apply(
    session: Session,
    row: StepRun,
    entry: StepFinish,
    output: tuple[str, int] | None,
    logs_digest: str | None,
    now: dt.datetime,
) -> None:
    row.state = entry.state
    if output is not None:
        row.output_digest, row.output_size = output
    if entry.output_kind is not None:
        row.output_kind = entry.output_kind
    if logs_digest is not None:
        row.logs_digest = logs_digest
    row.error = entry.error
    row.traceback = entry.traceback
    if entry.attempts is not None:
        row.attempts = entry.attempts
    elif row.job_id is not None:
        job = session.get(Job, row.job_id)
        row.attempts = job.attempts if job is not None else row.attempts
    else:
        row.attempts = max(row.attempts, 1) if entry.state in ("succeeded", "failed") else 0
    row.ended_at = now
    started = row.started_at or now
    row.duration_ms = (
        entry.duration_ms
        if entry.duration_ms is not None
        else max(0.0, (now - started).total_seconds() * 1000.0)
    )
