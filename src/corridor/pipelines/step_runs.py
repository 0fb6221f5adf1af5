"""Step runs: one execution of one step (or one item of a mapped step), begun and finished by
the run's driver in batches.

Both calls are idempotent, because the driver retries them through lost answers and server
restarts: a begin finds the step run its key already has (whatever its state) and creates only
the missing ones; a finish that repeats the recorded end is a no-op. A batch is one transaction
under the run row's lock (so two copies of one batch cannot race to the unique key), checked
in full before the first write: a refusal names the entry (``step 'clean[3]': ...``) and
leaves nothing recorded and no job queued. Jobs are queued in the same transaction as the rows
that name them (`corridor.pipelines.compute_jobs`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from corridor.errors import Conflict, InvalidInput
from corridor.pipelines import cache, compute_jobs, step_lineage
from corridor.pipelines.models import Pipeline, PipelineRun, StepRun
from corridor.pipelines.runs import check_open
from corridor.pipelines.schemas import StepBegin, StepRunOut
from corridor.runtime import Runtime
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.store.base import new_id, utcnow

ENDED = frozenset({"succeeded", "cached", "failed", "upstream_failed", "skipped", "cancelled"})
# Keys per query, well under SQLite's bound-parameter cap.
_CHUNK = 500


def named(message: str, key: str) -> str:
    return f"step {key!r}: {message}"


def by_keys(session: Session, run_id: str, keys: Iterable[str]) -> dict[str, StepRun]:
    """The run's step runs of these keys, by key."""
    wanted = sorted(set(keys))
    found: dict[str, StepRun] = {}
    for i in range(0, len(wanted), _CHUNK):
        for row in session.scalars(
            select(StepRun).where(StepRun.run_id == run_id, StepRun.key.in_(wanted[i : i + _CHUNK]))
        ):
            found[row.key] = row
    return found


def _check_unique(keys: Sequence[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise InvalidInput(named("the batch names this key twice", key))
        seen.add(key)


def _check_groups(entries: Sequence[StepBegin]) -> None:
    """Entries sharing a ``job_group`` share the job the group's one ``job`` entry carries."""
    carriers: dict[str, int] = {}
    for entry in entries:
        if entry.job_group is not None and entry.job is not None:
            carriers[entry.job_group] = carriers.get(entry.job_group, 0) + 1
    for entry in entries:
        group = entry.job_group
        if group is None:
            continue
        if carriers.get(group, 0) != 1:
            raise InvalidInput(
                named(
                    f"job_group {group!r} needs exactly one entry that carries the job", entry.key
                )
            )
        if entry.in_process:
            raise InvalidInput(named("an in-process step runs in no job", entry.key))


def new_row(run: PipelineRun, entry: StepBegin, *, state: str, now: dt.datetime) -> StepRun:
    return StepRun(
        id=new_id(),
        run_id=run.id,
        project_id=run.project_id,
        key=entry.key,
        step=entry.step,
        parent_key=entry.parent_key,
        item_index=entry.item_index,
        state=state,
        in_process=entry.in_process,
        cache_key=entry.cache_key,
        code_digest=entry.code_digest,
        attempts=0,
        inputs=dict(entry.inputs),
        started_at=now,
        created_at=now,
    )


def begin(
    session: Session,
    runtime: Runtime,
    run: PipelineRun,
    project: Project,
    principal: Principal,
    entries: Sequence[StepBegin],
    *,
    now: dt.datetime | None = None,
) -> tuple[list[StepRun], bool]:
    """Begin the batch (see the module docstring); the step runs in batch order, and whether a
    job was queued (the caller wakes compute's scheduler after its commit)."""
    now = now or utcnow()
    check_open(run)
    if run.state != "running":
        raise Conflict(f"pipeline run {run.number} is {run.state}: it has not started yet")
    _check_unique([e.key for e in entries])
    existing = by_keys(session, run.id, (e.key for e in entries))
    fresh = [e for e in entries if e.key not in existing]
    _check_groups(entries)
    for entry in fresh:
        if entry.in_process and entry.job is not None:
            raise InvalidInput(named("an in-process step runs in no job", entry.key))
    wanted = {
        e.cache_key for e in fresh if e.cache_key is not None and e.cache and not run.no_cache
    }
    found = cache.hits(session, runtime.blobs, run.project_id, wanted) if wanted else {}

    created: dict[str, StepRun] = {}
    running: list[StepBegin] = []
    for entry in fresh:
        hit = found.get(entry.cache_key or "") if entry.cache and not run.no_cache else None
        if hit is not None:
            row = new_row(run, entry, state="cached", now=now)
            row.cached_from = hit.id
            row.output_digest, row.output_kind = hit.output_digest, hit.output_kind
            row.output_size, row.ended_at, row.duration_ms = hit.output_size, now, 0.0
            created[entry.key] = row
        else:
            running.append(entry)
    # Check every job before the first write; a refusal names its step.
    carriers = [e for e in running if e.job is not None]
    bodies = [e.job for e in carriers if e.job is not None]
    keys = [e.key for e in carriers]
    drafts = compute_jobs.check(session, runtime, project, principal, bodies, now=now, names=keys)
    inputs_by_step = {
        e.key: step_lineage.resolve(session, project, e.input_refs) for e in fresh if e.input_refs
    }
    jobs = compute_jobs.insert(session, runtime, drafts, now=now) if drafts else []
    # A group's job may come from a step run an earlier copy of the batch created.
    job_of_group = {
        e.job_group: existing[e.key].job_id or ""
        for e in entries
        if e.job_group is not None and e.job is not None and e.key in existing
    }
    job_of_key: dict[str, str] = {}
    for entry, job in zip(carriers, jobs, strict=True):
        job_of_key[entry.key] = job.id
        if entry.job_group is not None:
            job_of_group[entry.job_group] = job.id
    for entry in running:
        row = new_row(run, entry, state="running", now=now)
        row.job_id = job_of_key.get(entry.key) or job_of_group.get(entry.job_group or "") or None
        created[entry.key] = row
    session.add_all(created.values())
    session.flush()
    for key, row in created.items():
        if row.job_id is not None:
            step_lineage.link_job(session, row.id, row.job_id)
        step_lineage.link_inputs(session, row.id, inputs_by_step.get(key, ()))
    run.driver_seen_at = now
    return [existing.get(e.key) or created[e.key] for e in entries], bool(jobs)


def step_run_out(row: StepRun) -> StepRunOut:
    return StepRunOut.model_validate(row, from_attributes=True)


def order_for_view(graph: dict[str, Any] | None, rows: list[StepRun]) -> list[StepRun]:
    """Step runs in the graph's node order, map items after their map node by index."""
    nodes = (graph or {}).get("nodes") or {}
    order = {key: i for i, key in enumerate(nodes)} if isinstance(nodes, dict) else {}
    if isinstance(nodes, list):
        order = {str(n.get("key")): i for i, n in enumerate(nodes) if isinstance(n, dict)}
    last = len(order)

    def position(row: StepRun) -> tuple[int, int, int, dt.datetime, str]:
        base = row.parent_key if row.parent_key is not None else row.key
        item = -1 if row.item_index is None else row.item_index
        return (
            order.get(base, last),
            0 if row.parent_key is None else 1,
            item,
            row.created_at,
            row.key,
        )

    return sorted(rows, key=position)


def run_steps(session: Session, run: PipelineRun) -> list[StepRun]:
    rows = list(session.scalars(select(StepRun).where(StepRun.run_id == run.id)))
    return order_for_view(run.graph, rows)


def referenced_blobs() -> list[Select[Any]]:
    """The queries of the blob digests step runs and runs reference (the blob sweep keeps them):
    outputs, in-process logs and pipeline results."""
    return [
        select(StepRun.output_digest).where(StepRun.output_digest.is_not(None)),
        select(StepRun.logs_digest).where(StepRun.logs_digest.is_not(None)),
        select(PipelineRun.result_digest).where(PipelineRun.result_digest.is_not(None)),
    ]


def step_run_projects(ids: Sequence[str]) -> Select[str, str]:
    """``(step run id, project id)`` of the step runs among ``ids`` (lineage's owner query)."""
    return select(StepRun.id, StepRun.project_id).where(StepRun.id.in_(ids))


def step_run_names(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """``<pipeline> run N step KEY`` of each step run id that exists (lineage's names)."""
    rows = session.execute(
        select(StepRun.id, Pipeline.name, PipelineRun.number, StepRun.key)
        .join(PipelineRun, PipelineRun.id == StepRun.run_id)
        .join(Pipeline, Pipeline.id == PipelineRun.pipeline_id)
        .where(StepRun.id.in_(ids))
    )
    return {sid: f"{name} run {number} step {key}" for sid, name, number, key in rows}
