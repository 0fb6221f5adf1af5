"""Dataset and alias triggers in the loop: a new dataset version, or a model alias that moved,
becomes a queued run whose trigger parameter names it (``"sales@4"``, ``"fraud@7"``).

A trigger's state is its ``last_seen`` version number, moved in the transaction that creates
the runs for the versions it passes, with the trigger row locked: a restart or a second leader
finds the moved number and makes no second run. A dataset that gains many versions at once
makes at most `MAX_RUNS_PER_TICK` runs a tick (oldest first); the rest follow on later ticks.
Versions and aliases are read through the data and registry lookups, never their routes.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.data.models import Dataset, DatasetVersion
from corridor.errors import CorridorError, NotFound
from corridor.pipelines import runs
from corridor.pipelines.models import Pipeline, PipelineRun, PipelineTrigger
from corridor.registry.aliases import get_model_version_by_alias
from corridor.store.db import Database

log = logging.getLogger("corridor.pipelines")

MAX_RUNS_PER_TICK = 10


def current_version(session: Session, trigger: PipelineTrigger) -> int | None:
    """The version the trigger would see now: the dataset's newest version number, or the
    version the model's alias points at; None when there is none (yet)."""
    if trigger.kind == "dataset":
        versions = _dataset_versions(session, trigger, after=None, limit=None)
        return versions[-1] if versions else None
    if trigger.model is None or trigger.alias is None:
        return None
    try:
        record = get_model_version_by_alias(
            session, trigger.model, trigger.alias, project_id=trigger.project_id
        )
    except NotFound:
        return None
    return int(record.version)


def _dataset_versions(
    session: Session, trigger: PipelineTrigger, *, after: int | None, limit: int | None
) -> list[int]:
    """Version numbers of the trigger's dataset above ``after``: oldest first, or, without a
    limit, just the newest one."""
    query = (
        select(DatasetVersion.version)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(Dataset.project_id == trigger.project_id, Dataset.name == trigger.dataset)
    )
    if after is not None:
        query = query.where(DatasetVersion.version > after)
    if limit is None:
        newest = session.scalar(query.order_by(DatasetVersion.version.desc()).limit(1))
        return [] if newest is None else [newest]
    return list(session.scalars(query.order_by(DatasetVersion.version).limit(limit)))


def _news(session: Session, trigger: PipelineTrigger) -> list[int]:
    """The version numbers the trigger has not seen yet, oldest first (at most a tick's)."""
    if trigger.kind == "dataset":
        return _dataset_versions(session, trigger, after=trigger.last_seen, limit=MAX_RUNS_PER_TICK)
    current = current_version(session, trigger)
    # An alias removed is not a move: wait for it to point somewhere again.
    return [] if current is None or current == trigger.last_seen else [current]


def fire_new(db: Database, now: dt.datetime) -> list[str]:
    """Create the runs of every enabled trigger that sees something new; their ids.

    Looking is a read; only a trigger with news takes the write lock, so a server with many
    quiet triggers does not write every second.
    """
    with db.read() as session:
        triggers = session.scalars(
            select(PipelineTrigger)
            .where(PipelineTrigger.enabled.is_(True))
            .order_by(PipelineTrigger.created_at, PipelineTrigger.id)
        ).all()
        ids = [trigger.id for trigger in triggers if _news(session, trigger)]
    created: list[str] = []
    for trigger_id in ids:
        try:
            created.extend(_fire_one(db, trigger_id, now))
        except Exception:
            log.exception("pipelines loop: trigger %s did not fire", trigger_id)
    return created


def _fire_one(db: Database, trigger_id: str, now: dt.datetime) -> list[str]:
    with db.write() as session:
        trigger = session.scalar(
            select(PipelineTrigger).where(PipelineTrigger.id == trigger_id).with_for_update()
        )
        if trigger is None or not trigger.enabled:
            return []
        # Again under the lock: another leader may have moved last_seen meanwhile.
        seen = _news(session, trigger)
        if not seen:
            return []
        name = trigger.dataset if trigger.kind == "dataset" else trigger.model
        pipeline = session.get(Pipeline, trigger.pipeline_id)
        created: list[str] = []
        for version in seen:
            run = _run_for(session, pipeline, trigger, f"{name}@{version}", now)
            if run is not None:
                created.append(run.id)
        trigger.last_seen = seen[-1]
        return created


def _run_for(
    session: Session,
    pipeline: Pipeline | None,
    trigger: PipelineTrigger,
    ref: str,
    now: dt.datetime,
) -> PipelineRun | None:
    if pipeline is None:
        return None
    params: dict[str, Any] = dict(trigger.params)
    if trigger.param:
        params[trigger.param] = ref
    detail: dict[str, Any] = {"trigger_id": trigger.id}
    if trigger.kind == "dataset":
        detail["dataset"] = ref
    else:
        detail.update(model=ref, alias=trigger.alias)
    try:
        # A savepoint: a refused run (params the pipeline no longer takes) still moves
        # last_seen, so the same version is not refused again every second.
        with session.begin_nested():
            return runs.create_run(
                session,
                pipeline,
                params=params,
                trigger=trigger.kind,
                trigger_detail=detail,
                created_by=trigger.created_by,
                created_by_user_id=trigger.created_by_user_id,
                now=now,
            )
    except CorridorError as error:
        log.error("pipelines loop: trigger %s on %s made no run: %s", trigger.id, ref, error)
        return None
