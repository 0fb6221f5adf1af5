"""Cron schedules in the loop: each due fire becomes one queued run, exactly once.

A schedule's state is its row: ``next_fire_at`` says when it fires next and is only ever moved
in the transaction that creates the runs of the fires it passes. The schedule row is locked for
that transaction, and the runs table is unique on ``(schedule_id, schedule_fire)``, so a
restarted server, or a second server that briefly believes it leads, cannot create a fire's run
twice: the loser's transaction either sees the moved ``next_fire_at`` or fails on the unique
key and is rolled back whole.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Literal, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from corridor.errors import CorridorError
from corridor.pipelines import runs
from corridor.pipelines.models import Pipeline, PipelineRun, PipelineSchedule
from corridor.pipelines.sansio import cron
from corridor.store.db import Database

log = logging.getLogger("corridor.pipelines")

# Schedules looked at per tick: the rest wait a second, bounding one tick's work.
BATCH = 200


def first_fire(expression: str, timezone: str, *, now: dt.datetime) -> dt.datetime:
    """Check a new schedule's cron and zone, and return its first ``next_fire_at``.

    Raises `InvalidInput` naming the bad field (``cron '61 * * * *': minute 61 is out of range
    0-59``) or the unknown zone.
    """
    cron.zone(timezone)
    return cron.next_fire(cron.parse(expression), now, timezone)


def fire_due(db: Database, now: dt.datetime) -> list[str]:
    """Create the runs of every enabled schedule whose next fire has come; their ids."""
    with db.read() as session:
        ids = session.scalars(
            select(PipelineSchedule.id)
            .where(
                PipelineSchedule.enabled.is_(True),
                (PipelineSchedule.next_fire_at <= now) | PipelineSchedule.next_fire_at.is_(None),
            )
            .order_by(PipelineSchedule.next_fire_at)
            .limit(BATCH)
        ).all()
    created: list[str] = []
    for schedule_id in ids:
        try:
            created.extend(_fire_one(db, schedule_id, now))
        except Exception:
            # Most likely a second leader made the same fire's run first (the unique key):
            # nothing was written here, and the next tick sees the moved next_fire_at.
            log.exception("pipelines loop: schedule %s did not fire", schedule_id)
    return created


def _fire_one(db: Database, schedule_id: str, now: dt.datetime) -> list[str]:
    with db.write() as session:
        schedule = session.scalar(
            select(PipelineSchedule).where(PipelineSchedule.id == schedule_id).with_for_update()
        )
        if schedule is None or not schedule.enabled:
            return []
        try:
            if schedule.next_fire_at is None:
                # A schedule enabled again (or stored without one): it starts from now.
                schedule.next_fire_at = first_fire(schedule.cron, schedule.timezone, now=now)
                return []
            if schedule.next_fire_at > now:
                return []
            fires, upcoming = cron.due(
                schedule.cron,
                schedule.timezone,
                schedule.next_fire_at,
                now,
                cast(Literal["skip", "once", "all"], schedule.missed),
            )
        except CorridorError as error:
            # Stored before a rule changed (a zone dropped from the system's tz database):
            # disabled, so it shows as such rather than failing every second.
            log.error("pipelines loop: schedule %s disabled: %s", schedule.id, error)
            schedule.enabled = False
            return []
        pipeline = session.get(Pipeline, schedule.pipeline_id)
        created = [
            run.id
            for fire in fires
            if pipeline is not None
            and (run := _run_for_fire(session, pipeline, schedule, fire, now)) is not None
        ]
        schedule.next_fire_at = upcoming
        if fires:
            schedule.last_fire_at = fires[-1]
        return created


def _run_for_fire(
    session: Session,
    pipeline: Pipeline,
    schedule: PipelineSchedule,
    fire: dt.datetime,
    now: dt.datetime,
) -> PipelineRun | None:
    """One fire's queued run; None if it exists already or the pipeline refuses the params."""
    existing = session.scalar(
        select(PipelineRun.id).where(
            PipelineRun.schedule_id == schedule.id, PipelineRun.schedule_fire == fire
        )
    )
    if existing is not None:
        return None
    try:
        # A savepoint: a refused fire (params the pipeline no longer takes) leaves the
        # schedule's own move intact.
        with session.begin_nested():
            return runs.create_run(
                session,
                pipeline,
                params=dict(schedule.params),
                trigger="schedule",
                trigger_detail={"schedule_id": schedule.id, "fire_time": fire.isoformat()},
                created_by=schedule.created_by,
                created_by_user_id=schedule.created_by_user_id,
                schedule_id=schedule.id,
                schedule_fire=fire,
                now=now,
            )
    except CorridorError as error:
        log.error("pipelines loop: schedule %s fire %s made no run: %s", schedule.id, fire, error)
        return None
