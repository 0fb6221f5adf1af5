"""Cron schedules driven by a fake clock: one run per fire, the missed policies, time zones, and
no fire made twice across a restart or a second leader."""

from __future__ import annotations

import datetime as dt

import pytest

from corridor.client.client import Client
from corridor.compute.sansio import payload
from corridor.config import Settings
from corridor.pipelines.loop import tick
from corridor.pipelines.models import PipelineSchedule
from corridor.pipelines.sansio.cron import zone
from corridor.runtime import Runtime
from corridor.store.base import utcnow
from corridor.store.db import Database
from tests.conftest import LiveServer
from tests.pipelines.conftest import WriteModule
from tests.pipelines.loop_world import LoopWorld, at, register_live, wait_for_ended_run, world

__all__ = ["world"]


def fires_of(w: LoopWorld) -> list[str]:
    return [run.trigger_detail["fire_time"] for run in w.runs() if run.trigger == "schedule"]


def test_a_schedule_makes_one_queued_run_per_fire(world: LoopWorld) -> None:
    schedule_id = world.schedule("*/10 * * * *", now=at(2026, 1, 1, 0, 3), params={"n": 5})
    assert tick(world.cw.runtime, at(2026, 1, 1, 0, 5)).scheduled == []
    report = tick(world.cw.runtime, at(2026, 1, 1, 0, 10, 0, 400_000))
    assert len(report.scheduled) == 1
    (run,) = world.runs()
    assert run.trigger == "schedule"
    assert run.trigger_detail == {
        "schedule_id": schedule_id,
        "fire_time": "2026-01-01T00:10:00+00:00",
    }
    assert run.params == {"data": "none", "n": 5}
    assert run.driver == "job"
    assert run.created_by == "alice"
    # The same moment again, and a moment later in the same period: nothing new.
    assert tick(world.cw.runtime, at(2026, 1, 1, 0, 10, 1)).scheduled == []
    assert tick(world.cw.runtime, at(2026, 1, 1, 0, 19, 59)).scheduled == []
    tick(world.cw.runtime, at(2026, 1, 1, 0, 20, 0, 300_000))
    assert fires_of(world) == ["2026-01-01T00:10:00+00:00", "2026-01-01T00:20:00+00:00"]
    row = world.get(PipelineSchedule, schedule_id)
    assert row.next_fire_at == at(2026, 1, 1, 0, 30)
    assert row.last_fire_at == at(2026, 1, 1, 0, 20)


@pytest.mark.parametrize(
    ("missed", "expected"),
    [
        ("skip", []),
        ("once", ["05:00"]),
        ("all", ["01:00", "02:00", "03:00", "04:00", "05:00"]),
    ],
)
def test_missed_fires_follow_the_schedule_policy(
    world: LoopWorld, missed: str, expected: list[str]
) -> None:
    schedule_id = world.schedule("0 * * * *", now=at(2026, 1, 1, 0, 30), missed=missed)
    # The server was down from 00:30 to 05:30: five fires passed unseen.
    tick(world.cw.runtime, at(2026, 1, 1, 5, 30))
    assert [fire[11:16] for fire in fires_of(world)] == expected
    assert world.get(PipelineSchedule, schedule_id).next_fire_at == at(2026, 1, 1, 6)
    # Back to normal: the next fire is on time and runs under every policy.
    tick(world.cw.runtime, at(2026, 1, 1, 6, 0, 1))
    assert [fire[11:16] for fire in fires_of(world)] == [*expected, "06:00"]


def test_a_schedule_fires_at_its_wall_time_in_its_time_zone(world: LoopWorld) -> None:
    world.schedule("0 9 * * *", now=at(2026, 3, 27, 12), timezone="Europe/Paris")
    for day in (28, 29, 30):
        for hour in range(0, 24):
            tick(world.cw.runtime, at(2026, 3, day, hour, 0, 1))
    # 09:00 Paris is 08:00 UTC before the change (Sunday the 29th, 02:00) and 07:00 after.
    assert fires_of(world) == [
        "2026-03-28T08:00:00+00:00",
        "2026-03-29T07:00:00+00:00",
        "2026-03-30T07:00:00+00:00",
    ]


def test_a_restarted_server_does_not_fire_again(world: LoopWorld) -> None:
    world.schedule("*/5 * * * *", now=at(2026, 1, 1), missed="all")
    tick(world.cw.runtime, at(2026, 1, 1, 0, 5, 1))
    assert len(world.runs()) == 1
    # A new process over the same database: its state is the rows, not a memory of the last.
    restarted = Runtime(
        Settings(
            home=world.cw.runtime.settings.home, database_url=world.cw.runtime.settings.database_url
        )
    )
    try:
        assert tick(restarted, at(2026, 1, 1, 0, 5, 1)).scheduled == []
        assert tick(restarted, at(2026, 1, 1, 0, 9)).scheduled == []
        assert len(tick(restarted, at(2026, 1, 1, 0, 16)).scheduled) == 2
    finally:
        restarted.close()
    assert [fire[14:16] for fire in fires_of(world)] == ["05", "10", "15"]


def test_a_second_leader_with_a_stale_view_makes_no_duplicate(world: LoopWorld) -> None:
    schedule_id = world.schedule("*/5 * * * *", now=at(2026, 1, 1), missed="all")
    tick(world.cw.runtime, at(2026, 1, 1, 0, 5, 1))
    # Another process that had read the schedule before the first moved it.
    with world.db.write() as session:
        session.get(PipelineSchedule, schedule_id).next_fire_at = at(2026, 1, 1, 0, 5)
    assert tick(world.cw.runtime, at(2026, 1, 1, 0, 5, 2)).scheduled == []
    assert len(world.runs()) == 1
    assert world.get(PipelineSchedule, schedule_id).next_fire_at == at(2026, 1, 1, 0, 10)


def test_a_fire_the_pipeline_refuses_makes_no_run_and_the_schedule_moves_on(
    world: LoopWorld,
) -> None:
    good = world.schedule("0 * * * *", now=at(2026, 1, 1), params={"n": 2})
    bad = world.schedule("0 * * * *", now=at(2026, 1, 1), params={"n": "many"})
    report = tick(world.cw.runtime, at(2026, 1, 1, 1, 0, 1))
    assert len(report.scheduled) == 1
    assert [run.schedule_id for run in world.runs()] == [good]
    assert world.get(PipelineSchedule, bad).next_fire_at == at(2026, 1, 1, 2)


def test_a_disabled_schedule_does_not_fire(world: LoopWorld) -> None:
    schedule_id = world.schedule("0 * * * *", now=at(2026, 1, 1))
    with world.db.write() as session:
        session.get(PipelineSchedule, schedule_id).enabled = False
    assert tick(world.cw.runtime, at(2026, 1, 1, 1, 0, 1)).scheduled == []


def test_a_schedule_without_a_next_fire_starts_from_now(world: LoopWorld) -> None:
    schedule_id = world.schedule("0 * * * *", now=at(2026, 1, 1))
    with world.db.write() as session:
        session.get(PipelineSchedule, schedule_id).next_fire_at = None
    assert tick(world.cw.runtime, at(2026, 1, 1, 5, 30)).scheduled == []
    assert world.get(PipelineSchedule, schedule_id).next_fire_at == at(2026, 1, 1, 6)


def test_first_fire_refuses_a_bad_cron_or_zone() -> None:
    from corridor.errors import InvalidInput
    from corridor.pipelines.loop.schedules import first_fire

    with pytest.raises(InvalidInput, match="minute 61 is out of range 0-59"):
        first_fire("61 * * * *", "UTC", now=at(2026, 1, 1))
    with pytest.raises(InvalidInput, match="unknown time zone 'Nowhere/Town'"):
        first_fire("0 * * * *", "Nowhere/Town", now=at(2026, 1, 1))
    assert first_fire("@daily", "Europe/Paris", now=at(2026, 1, 1, 12)) == (at(2026, 1, 1, 23))
    assert isinstance(first_fire("@hourly", "UTC", now=at(2026, 1, 1)), dt.datetime)


# --- end to end, on the live server ----------------------------------------------------------

FLOW_FILE = """
from corridor.pipelines import pipeline, step


@step
def double(n: int) -> int:
    return n * 2


@step(in_process=True)
def plus_one(n: int) -> int:
    return n + 1


@pipeline
def nightly(n: int = 1) -> int:
    return plus_one(double(n))
"""


def test_a_schedule_on_the_live_server_fires_and_its_driver_job_completes_the_run(
    pipelines_server: LiveServer,
    admin_client: Client,
    project: str,
    pipeline_module: WriteModule,
) -> None:
    module = pipeline_module(FLOW_FILE)
    with pipelines_server.client() as http:
        params = [{"name": "n", "type": "int", "required": False, "default": 1}]
        register_live(admin_client, http, project, module, "nightly", params)
        schedules_path = f"/api/v1/projects/{project}/pipelines/nightly/schedules"
        bad = http.post(schedules_path, json={"cron": "61 3 * * *"})
        assert bad.status_code == 422
        assert "minute 61 is out of range 0-59" in bad.text
        made = http.post(
            schedules_path,
            json={"cron": "0 3 * * *", "timezone": "Europe/Paris", "params": {"n": 20}},
        )
        assert made.status_code == 201, made.text
        schedule = made.json()
        # The clock reaches the fire: the row is what the loop reads, so moving its next fire
        # to a second ago is the server's own view of "03:00 Paris has come" (without waiting
        # for it).
        fire = utcnow() - dt.timedelta(seconds=1)
        database = Database(pipelines_server.database_url)
        try:
            with database.write() as session:
                row = session.get(PipelineSchedule, schedule["id"])
                assert row is not None
                row.next_fire_at = fire
        finally:
            database.dispose()
        run = wait_for_ended_run(http, project, "nightly", limit_s=180)
        assert run["state"] == "succeeded", run
        assert run["trigger"] == "schedule"
        assert run["trigger_detail"]["schedule_id"] == schedule["id"]
        assert run["params"] == {"n": 20}
        assert run["driver"] == "job"
        assert run["driver_job_id"] is not None
        result = http.get(f"/api/v1/pipeline-runs/{run['id']}/result")
        assert result.status_code == 200, result.text
        assert payload.decode(result.content) == 41
        # Exactly one run for the fire, and the schedule moved on to the next 03:00 Paris.
        listed = http.get(f"/api/v1/projects/{project}/pipeline-runs").json()
        assert len(listed) == 1
        (after,) = http.get(schedules_path).json()
        assert dt.datetime.fromisoformat(after["next_fire_at"]) > utcnow()
        assert (
            dt.datetime.fromisoformat(after["next_fire_at"])
            .astimezone(zone("Europe/Paris"))
            .strftime("%H:%M")
            == "03:00"
        )
        assert dt.datetime.fromisoformat(after["last_fire_at"]) == fire
