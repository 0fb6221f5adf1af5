"""The loop: its leader lease, the run queue within max_concurrent_runs, and the watchdog."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from sqlalchemy import select

from corridor.compute.models import Job
from corridor.pipelines import runs
from corridor.pipelines.loop import LEASE_TTL_S, release_lease, running, take_lease, tick
from corridor.pipelines.loop.starts import DRIVER_SILENCE_S
from corridor.pipelines.models import LoopLease, Pipeline, PipelineRun, PipelineSchedule
from corridor.security.models import User
from corridor.store.base import utcnow
from tests.pipelines.loop_world import LoopWorld, at, world

__all__ = ["world"]

NOW = at(2026, 1, 1)


def create(w: LoopWorld, *, driver: str = "job", now: dt.datetime = NOW, n: int = 1) -> str:
    with w.db.write() as session:
        pipeline = session.get(Pipeline, w.pipeline_id)
        run = runs.create_run(
            session,
            pipeline,
            params={"n": n},
            trigger="api",
            driver=driver,
            created_by="alice",
            created_by_user_id=w.cw.principals["alice"].user_id,
            now=now,
        )
        return run.id


def states(w: LoopWorld) -> list[str]:
    return [run.state for run in w.runs()]


def end(w: LoopWorld, run_id: str, state: str = "succeeded") -> None:
    with w.db.write() as session:
        run = session.get(PipelineRun, run_id)
        runs.end_run(session, run, state, now=NOW)


def test_one_holder_leads_until_its_lease_lapses_or_is_released(world: LoopWorld) -> None:
    db = world.db
    assert take_lease(db, "a", now=NOW)
    assert not take_lease(db, "b", now=NOW + dt.timedelta(seconds=1))
    assert take_lease(db, "a", now=NOW + dt.timedelta(seconds=2))
    later = NOW + dt.timedelta(seconds=2 + LEASE_TTL_S + 1)
    assert take_lease(db, "b", now=later)
    assert not take_lease(db, "a", now=later)
    release_lease(db, "b")
    assert take_lease(db, "a", now=later)


def test_a_queued_run_starts_with_its_driver_job(world: LoopWorld) -> None:
    run_id = create(world)
    assert states(world) == ["queued"]
    report = tick(world.cw.runtime, NOW)
    assert report.started == [run_id]
    run = world.get(PipelineRun, run_id)
    assert run.state == "running"
    assert run.started_at == NOW
    assert run.run_token_id is not None
    job = world.get(Job, run.driver_job_id)
    assert job.spec["function"]["module"] == "corridor.pipelines.driver.driver_job"
    assert job.snapshot_digest == run.snapshot


def test_max_concurrent_runs_holds_runs_queued_then_starts_them_oldest_first(
    world: LoopWorld,
) -> None:
    world.set_limit(2)
    first, second, third, fourth = (
        create(world, now=NOW + dt.timedelta(seconds=i), n=i) for i in range(4)
    )
    assert sorted(tick(world.cw.runtime, NOW).started) == sorted([first, second])
    assert states(world) == ["running", "running", "queued", "queued"]
    assert tick(world.cw.runtime, NOW).started == []
    end(world, second)
    assert tick(world.cw.runtime, NOW).started == [third]
    assert states(world) == ["running", "succeeded", "running", "queued"]
    # A client-driven run made while the pipeline is full waits in the queue too.
    client = create(world, driver="client", now=NOW + dt.timedelta(seconds=9))
    assert world.get(PipelineRun, client).state == "queued"
    end(world, first, "failed")
    end(world, third, "cancelled")
    assert tick(world.cw.runtime, NOW).started == [fourth, client]
    started = world.get(PipelineRun, client)
    assert (started.state, started.driver_job_id, started.driver_seen_at) == ("running", None, NOW)


def test_lifting_the_limit_starts_every_queued_run(world: LoopWorld) -> None:
    world.set_limit(1)
    for i in range(3):
        create(world, now=NOW + dt.timedelta(seconds=i))
    tick(world.cw.runtime, NOW)
    assert states(world) == ["running", "queued", "queued"]
    world.set_limit(None)
    tick(world.cw.runtime, NOW)
    assert states(world) == ["running", "running", "running"]


def test_a_run_whose_driver_job_is_cancelled_fails(world: LoopWorld) -> None:
    run_id = create(world)
    tick(world.cw.runtime, NOW)
    job_id = world.get(PipelineRun, run_id).driver_job_id
    cancel = world.cw.http.post(f"/api/v1/jobs/{job_id}/cancel", headers=world.cw.auth("alice"))
    assert cancel.status_code == 200, cancel.text
    assert world.get(Job, job_id).state == "cancelled"
    assert tick(world.cw.runtime, NOW).failed == [run_id]
    run = world.get(PipelineRun, run_id)
    assert run.state == "failed"
    assert run.error == f"its driver job {job_id} was cancelled"
    assert run.ended_at == NOW
    # Once ended, nothing more happens to it.
    assert tick(world.cw.runtime, NOW).failed == []


def test_a_silent_client_driver_fails_its_run_with_the_resume_hint(world: LoopWorld) -> None:
    run_id = create(world, driver="client")
    assert world.get(PipelineRun, run_id).state == "running"
    silence = dt.timedelta(seconds=DRIVER_SILENCE_S)
    assert tick(world.cw.runtime, NOW + silence - dt.timedelta(seconds=1)).failed == []
    # A heartbeat resets the clock.
    with world.db.write() as session:
        runs.heartbeat(session.get(PipelineRun, run_id), now=NOW + dt.timedelta(seconds=60))
    assert tick(world.cw.runtime, NOW + silence + dt.timedelta(seconds=1)).failed == []
    late = NOW + dt.timedelta(seconds=61) + silence
    assert tick(world.cw.runtime, late).failed == [run_id]
    run = world.get(PipelineRun, run_id)
    assert run.state == "failed"
    assert run.error.startswith("its driver stopped reporting at 2026-01-01 00:01:00 UTC")
    assert run.error.endswith(f"`corridor pipelines retry {run_id}` resumes it")


def test_a_server_just_started_gives_client_drivers_time_to_reconnect(world: LoopWorld) -> None:
    run_id = create(world, driver="client")
    # The server was down for an hour and has just come back.
    started = NOW + dt.timedelta(hours=1)
    silence = dt.timedelta(seconds=DRIVER_SILENCE_S)
    assert tick(world.cw.runtime, started + silence / 2, server_started_at=started).failed == []
    assert world.get(PipelineRun, run_id).state == "running"
    after = started + silence + dt.timedelta(seconds=1)
    assert tick(world.cw.runtime, after, server_started_at=started).failed == [run_id]


def test_a_finished_run_is_left_alone_by_the_watchdog(world: LoopWorld) -> None:
    run_id = create(world, driver="client")
    end(world, run_id)
    assert tick(world.cw.runtime, NOW + dt.timedelta(days=1)).failed == []
    assert world.get(PipelineRun, run_id).state == "succeeded"


def test_two_loops_over_one_database_fire_a_schedule_once(world: LoopWorld) -> None:
    """The lifespan hook itself: two server processes' loops, one lease, one run per fire."""
    schedule_id = world.schedule("0 0 1 1 *", now=utcnow(), missed="all")
    fire = utcnow() - dt.timedelta(seconds=1)
    with world.db.write() as session:
        session.get(PipelineSchedule, schedule_id).next_fire_at = fire

    async def serve_both() -> None:
        runtime = world.cw.runtime
        async with running(runtime, tick_s=0.05), running(runtime, tick_s=0.05):
            deadline = time.monotonic() + 30
            while not world.runs() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            with world.db.read() as session:
                holders = session.scalars(select(LoopLease.holder)).all()
            assert len(holders) == 1
            # Let both loops tick a few more times over the fired schedule.
            await asyncio.sleep(0.5)

    asyncio.run(serve_both())
    (run,) = world.runs()
    assert run.schedule_fire == fire
    # A loop that stops gives its lease back, so another server can lead at once.
    with world.db.read() as session:
        assert session.scalars(select(LoopLease)).all() == []


def test_a_run_that_cannot_start_fails_with_the_reason(world: LoopWorld) -> None:
    run_id = create(world)
    with world.db.write() as session:
        session.get(User, world.cw.principals["alice"].user_id).disabled = True
    assert tick(world.cw.runtime, NOW).started == []
    run = world.get(PipelineRun, run_id)
    assert run.state == "failed"
    assert run.error.startswith("the run could not start: ")
    assert "its creator 'alice' no longer exists or is disabled" in run.error
    assert run.driver_job_id is None
    with world.db.read() as session:
        assert session.scalars(select(Job)).all() == []
