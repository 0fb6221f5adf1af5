"""Checking a submitted job in full before anything is written, then writing it.

``check`` validates one job (resources, env names, deadline, the sites that could ever run it,
the datasets it reads and the regions they are pinned to, the snapshot and the function's module
in it, the linked run) without writing; ``store_inputs`` puts the functions' inputs in the blob
store; ``insert`` queues every checked job in the caller's one write transaction. A refusal
therefore leaves nothing queued and nothing half-recorded: at most an input blob that no row
references, which the blob sweep reclaims. The restricted-data rule is applied for the job's
own project (the one in the path), never for a project the caller names.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.compute.models import Job, Snapshot
from corridor.compute.sansio.placement import QueuedJob, SiteView, feasibility
from corridor.compute.sansio.resources import NOTHING, Resources
from corridor.compute.sansio.states import JobState
from corridor.compute.sansio.units import parse_duration, parse_memory
from corridor.compute.schemas import JobSubmit
from corridor.data import consumption
from corridor.data import datasets as ds
from corridor.data.sansio.refs import parse_ref
from corridor.errors import InvalidInput
from corridor.lineage.graph import Node, NodeKind, add_edge
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.store.base import new_id

if TYPE_CHECKING:
    from corridor.compute.sites import Site
    from corridor.store.blobs import BlobStore

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_ENV_VALUE_BYTES = 128 * 1024
MAX_INPUT_BYTES = 64 * 1024 * 1024
DEFAULT_EXPECTED_DURATION_S = 600.0


@dataclass(frozen=True)
class Draft:
    """A job that passed every check, ready to be written (its input not stored yet)."""

    values: dict[str, Any]
    input_bytes: bytes | None


def _epoch(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    # A time without a zone is read as UTC, as every time Corridor prints is.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _check_env(env: Mapping[str, str]) -> dict[str, str]:
    for name, value in env.items():
        if not ENV_NAME.match(name):
            raise InvalidInput(
                f"env name {name!r} is not a variable name: use letters, digits and _, "
                "not starting with a digit"
            )
        if name.upper().startswith("CORRIDOR_"):
            raise InvalidInput(
                f"env name {name!r} is refused: CORRIDOR_* variables are set by the worker"
            )
        if "\0" in value or len(value.encode()) > MAX_ENV_VALUE_BYTES:
            raise InvalidInput(
                f"env {name}: a value may not hold a NUL character or pass "
                f"{MAX_ENV_VALUE_BYTES} bytes"
            )
    return dict(env)


def _check_argv(argv: Sequence[str]) -> list[str]:
    if not argv[0]:
        raise InvalidInput("command: the program (first item) is empty")
    for i, arg in enumerate(argv):
        if "\0" in arg:
            raise InvalidInput(f"command item {i} holds a NUL character")
    return list(argv)


def _decode_input(text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("input_b64 is not base64") from None
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidInput(f"input is larger than {MAX_INPUT_BYTES} bytes; pass a dataset instead")
    return data


def _resources(body: JobSubmit) -> Resources:
    memory = parse_memory(body.memory, "memory")
    return Resources(cpus=body.cpus, memory_bytes=memory, gpus=body.gpus).check("resources")


def _datasets(
    session: Session, project: Project, principal: Principal, refs: Sequence[str]
) -> tuple[list[dict[str, Any]], frozenset[str] | None, tuple[str, ...]]:
    """Resolve the job's inputs for its own project; return them, the regions they allow
    (None: anywhere) and the labels of the pinned ones (for refusal texts)."""
    resolved: list[dict[str, Any]] = []
    allowed: frozenset[str] | None = None
    pinned: list[str] = []
    described: list[str] = []
    for text in refs:
        ref = parse_ref(text)
        found = consumption.consume(ds.resolve(session, project, ref, principal), project)
        regions = sorted(found.version.regions or [])
        resolved.append(
            {"ref": text, "label": found.label, "version_id": found.version.id, "regions": regions}
        )
        if regions:
            pinned.append(found.label)
            described.append(f"{found.label} (pinned to {', '.join(regions)})")
            allowed = frozenset(regions) if allowed is None else allowed & frozenset(regions)
            if not allowed:
                raise InvalidInput(
                    "the datasets the job reads allow no common region: " + "; ".join(described)
                )
    return resolved, allowed, tuple(pinned)


def _snapshot(session: Session, project: Project, digest: str) -> Snapshot:
    row = session.get(Snapshot, (project.id, digest))
    if row is None:
        raise InvalidInput(
            f"snapshot {digest[:12]}… was not uploaded to project {project.name!r}: "
            "upload it first (PUT /api/v1/snapshot-uploads/{project}/{digest})"
        )
    return row


def _run_of_project(session: Session, project: Project, run_id: str) -> None:
    from corridor.tracking.models import Experiment, Run

    found = session.scalar(
        select(Run.run_id)
        .join(Experiment, Experiment.experiment_id == Run.experiment_id)
        .where(Run.run_id == run_id, Experiment.project_id == project.id)
    )
    if found is None:
        raise InvalidInput(f"run {run_id!r} is not a run of project {project.name!r}")


# A site whose capacity is left to its executor, before the scheduler has asked the executor:
# its size is not known yet, so a submit is not refused for it (the scheduler waits for room).
_NOT_YET_DISCOVERED = Resources(cpus=1e9, memory_bytes=1 << 62, gpus=1e9)


def _known_capacity(
    site: Site, discovered: Mapping[str, Resources | None] | None
) -> Resources | None:
    """What the site's executor reported (a Ray cluster's resources), for the parts of its
    capacity the site does not declare."""
    found = (discovered or {}).get(site.name)
    if found is not None:
        return found
    declared = (site.cpus, site.memory_bytes, site.gpus)
    return _NOT_YET_DISCOVERED if any(part is None for part in declared) else None


def check(
    session: Session,
    project: Project,
    principal: Principal,
    body: JobSubmit,
    *,
    sites: Mapping[str, Site],
    now: dt.datetime,
    views: Sequence[SiteView],
) -> Draft:
    """Check one job completely, writing nothing; `InvalidInput` (or the data slice's refusal)
    names the first problem."""
    if (body.command is None) == (body.function is None):
        raise InvalidInput("give exactly one of command (argv) and function")
    if body.input_b64 is not None and body.function is None:
        raise InvalidInput("input_b64 is for functions; a command takes its arguments in argv")
    if body.site is not None and body.objective is not None:
        raise InvalidInput("give a site to pin the job to, or an objective to choose one; not both")
    resources = _resources(body)
    env = _check_env(body.env)
    argv = _check_argv(body.command) if body.command is not None else None
    timeout_s = parse_duration(body.timeout, "timeout") if body.timeout is not None else None
    if timeout_s is not None and timeout_s <= 0:
        raise InvalidInput("timeout must be more than zero seconds")
    if not math.isfinite(body.cpus) or not math.isfinite(body.gpus):
        raise InvalidInput("cpus and gpus must be finite numbers")
    deadline = _aware(body.deadline, "deadline") if body.deadline is not None else None
    if deadline is not None and deadline <= now:
        raise InvalidInput(
            f"deadline {deadline.isoformat(timespec='seconds')} is in the past "
            f"(now {now.isoformat(timespec='seconds')})"
        )
    if body.deferrable and deadline is None:
        raise InvalidInput("a deferrable job needs a deadline: the latest time it may finish")
    input_bytes = _decode_input(body.input_b64) if body.input_b64 is not None else None

    modules: list[str] | None = None
    if body.snapshot is not None:
        modules = list(_snapshot(session, project, body.snapshot).modules)
    function: dict[str, str] | None = None
    if body.function is not None:
        function = body.function.model_dump()
        if body.function.source == "snapshot":
            if modules is None:
                raise InvalidInput(
                    f"function {body.function.module}:{body.function.qualname} comes from the "
                    "code snapshot, but the job names no snapshot"
                )
            if body.function.module not in modules:
                raise InvalidInput(
                    f"function {body.function.module}:{body.function.qualname} is not importable "
                    f"from the snapshot: it has no module {body.function.module!r}"
                )
    if body.run_id is not None:
        _run_of_project(session, project, body.run_id)
    resolved, regions, pinned = _datasets(session, project, principal, body.datasets)

    if body.site is not None and body.site not in sites:
        known = ", ".join(sorted(sites)) or "none"
        raise InvalidInput(f"unknown site {body.site!r}; the sites are: {known}")
    objective = body.objective or "time"
    queued = QueuedJob(
        id="(new)",
        project=project.name,
        priority=body.priority,
        submitted_at=now.timestamp(),
        resources=resources,
        workers=body.workers,
        gpu_type=body.gpu_type,
        site=body.site,
        regions=regions,
        objective=objective,
        deadline=_epoch(deadline),
        deferrable=body.deferrable,
        expected_duration_s=timeout_s or DEFAULT_EXPECTED_DURATION_S,
        datasets=pinned,
        duration_known=timeout_s is not None,
    )
    refusal = feasibility(queued, views, now.timestamp())
    if refusal is not None:
        raise InvalidInput(refusal)

    spec: dict[str, Any] = {
        "argv": argv,
        "function": function,
        "env": env,
        "datasets": resolved,
    }
    values: dict[str, Any] = {
        "project_id": project.id,
        "name": body.name,
        "kind": "command" if argv is not None else "function",
        "spec": spec,
        "snapshot_digest": body.snapshot,
        "cpus": resources.cpus,
        "memory_bytes": resources.memory_bytes,
        "gpus": resources.gpus,
        "gpu_type": body.gpu_type,
        "workers": body.workers,
        "priority": body.priority,
        "site_pin": body.site,
        "objective": objective,
        "regions": sorted(regions) if regions is not None else None,
        "deadline": deadline,
        "deferrable": body.deferrable,
        "retries": body.retries,
        "backoff_s": body.backoff_s,
        "timeout_s": timeout_s,
        "run_id": body.run_id,
        "created_by": principal.name,
    }
    return Draft(values=values, input_bytes=input_bytes)


def check_all(
    session: Session,
    project: Project,
    principal: Principal,
    bodies: Sequence[JobSubmit],
    *,
    sites: Mapping[str, Site],
    now: dt.datetime,
    discovered: Mapping[str, Resources | None] | None = None,
) -> list[Draft]:
    """Check every job; the first refusal names the job's position in the batch."""
    # The sites as they are now, once for the whole batch (the same for every job in it).
    views = [
        site.view(now.timestamp(), NOTHING, discovered=_known_capacity(site, discovered))
        for site in sites.values()
    ]
    drafts = []
    for i, body in enumerate(bodies):
        try:
            drafts.append(
                check(session, project, principal, body, sites=sites, now=now, views=views)
            )
        except InvalidInput as exc:
            if len(bodies) > 1:
                exc.message = f"job {i}: {exc.message}"
                exc.args = (exc.message,)
            raise
    return drafts


def store_inputs(blobs: BlobStore, drafts: Sequence[Draft]) -> list[str | None]:
    """Put each function input in the blob store (identical inputs share one blob)."""
    return [blobs.put(d.input_bytes) if d.input_bytes is not None else None for d in drafts]


def insert(
    session: Session, drafts: Sequence[Draft], input_digests: Sequence[str | None], now: dt.datetime
) -> list[Job]:
    """Queue the checked jobs (one transaction: the caller's write session)."""
    jobs = []
    for draft, digest in zip(drafts, input_digests, strict=True):
        job = Job(
            id=new_id(),
            **draft.values,
            input_digest=digest,
            state=JobState.QUEUED.value,
            cancel_requested=False,
            attempts=0,
            created_at=now,
        )
        session.add(job)
        jobs.append(job)
    session.flush()
    for job in jobs:
        # Lineage: what the job reads, and the run it reports to.
        node = Node(NodeKind.JOB, job.id)
        for used in job.spec.get("datasets") or []:
            add_edge(session, Node(NodeKind.DATASET_VERSION, str(used["version_id"])), node)
        if job.run_id is not None:
            add_edge(session, node, Node(NodeKind.RUN, job.run_id))
    return jobs
