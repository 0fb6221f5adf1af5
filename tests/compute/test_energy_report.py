"""Energy roll-ups over real job rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text

from corridor.compute.energy_report import EnergyTotal, energy_report
from corridor.compute.models import Job
from corridor.errors import InvalidInput, NotFound
from corridor.security import identity, projects
from corridor.security.policy import Principal, Role
from corridor.store.db import Database

DAY1 = dt.datetime(2026, 5, 1, 23, 30, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 5, 2, 0, 30, tzinfo=dt.UTC)
# Late on 1 May in UTC, already 2 May east of it: the day is UTC's.
LATE_DAY1_AT_PLUS2 = dt.datetime(2026, 5, 2, 1, 15, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def _job(project_id: str, **values: Any) -> Job:
    fields: dict[str, Any] = {
        "project_id": project_id,
        "kind": "command",
        "spec": {"argv": ["true"]},
        "cpus": 1.0,
        "memory_bytes": 0,
        "gpus": 0.0,
        "objective": "time",
        "state": "succeeded",
        "created_by": "alice",
        "created_at": DAY1,
    }
    fields.update(values)
    return Job(**fields)


@pytest.fixture
def seeded(db: Database) -> tuple[Database, Principal]:
    """Projects churn (alice reads it), ops (alice reads it), secret (hers to not see)."""
    with db.write() as s:
        alice = identity.create_user(s, "alice")
        identity.create_user(s, "bob")
        admin = Principal.local_admin()
        churn = projects.create_project(s, "churn", description="", by=admin)
        ops = projects.create_project(s, "ops", description="", by=admin)
        secret = projects.create_project(s, "secret", description="", by=admin)
        projects.grant(s, churn, "alice", Role.EDITOR)
        projects.grant(s, ops, "alice", Role.VIEWER)
        projects.grant(s, secret, "bob", Role.VIEWER)
        s.add_all(
            [
                _job(
                    churn.id,
                    site="eu",
                    energy_j=100.0,
                    energy_method="rapl",
                    carbon_g=2.0,
                    cost=0.5,
                    finished_at=DAY1,
                    run_id="r1",
                ),
                _job(
                    churn.id,
                    site="eu",
                    energy_j=50.0,
                    energy_method="cpu-time-model,rapl",  # two attempts, two meters
                    carbon_g=1.0,
                    cost=0.25,
                    finished_at=LATE_DAY1_AT_PLUS2,
                    run_id="r1",
                ),
                _job(
                    churn.id,
                    site="us",
                    energy_j=10.0,
                    energy_method="rapl",
                    carbon_g=None,
                    cost=None,
                    state="failed",
                    finished_at=DAY2,
                ),
                # Never ran: no figure, not counted.
                _job(churn.id, site=None, state="cancelled"),
                _job(
                    ops.id,
                    site="us",
                    energy_j=1000.0,
                    energy_method="rapl+nvml",
                    carbon_g=40.0,
                    cost=3.0,
                    finished_at=DAY2,
                    run_id="r2",
                ),
                _job(
                    secret.id,
                    site="eu",
                    energy_j=7e6,
                    energy_method="rapl",
                    carbon_g=900.0,
                    cost=9.0,
                    finished_at=DAY1,
                ),
            ]
        )
        principal = Principal(user_id=alice.id, name="alice", is_admin=False)
    return db, principal


def _report(db: Database, principal: Principal, by: str, **kw: str) -> list[EnergyTotal]:
    with db.read() as s:
        return energy_report(s, principal, by, **kw)


def test_by_project_sums_only_readable_projects(seeded: tuple[Database, Principal]) -> None:
    db, alice = seeded
    assert _report(db, alice, "project") == [
        EnergyTotal("churn", 3, 160.0, 3.0, 0.75, ["cpu-time-model", "rapl"]),
        EnergyTotal("ops", 1, 1000.0, 40.0, 3.0, ["rapl+nvml"]),
    ]
    everything = _report(db, Principal.local_admin(), "project")
    assert [t.key for t in everything] == ["churn", "ops", "secret"]


def test_by_site_day_and_run(seeded: tuple[Database, Principal]) -> None:
    db, alice = seeded
    assert _report(db, alice, "site") == [
        EnergyTotal("eu", 2, 150.0, 3.0, 0.75, ["cpu-time-model", "rapl"]),
        EnergyTotal("us", 2, 1010.0, 40.0, 3.0, ["rapl", "rapl+nvml"]),
    ]
    assert _report(db, alice, "day") == [
        EnergyTotal("2026-05-01", 2, 150.0, 3.0, 0.75, ["cpu-time-model", "rapl"]),
        EnergyTotal("2026-05-02", 2, 1010.0, 40.0, 3.0, ["rapl", "rapl+nvml"]),
    ]
    assert _report(db, alice, "run") == [
        EnergyTotal("r1", 2, 150.0, 3.0, 0.75, ["cpu-time-model", "rapl"]),
        EnergyTotal("r2", 1, 1000.0, 40.0, 3.0, ["rapl+nvml"]),
    ]


def test_one_project_must_be_readable(seeded: tuple[Database, Principal]) -> None:
    db, alice = seeded
    assert [t.key for t in _report(db, alice, "site", project="ops")] == ["us"]
    with pytest.raises(NotFound, match="project 'secret' not found"):
        _report(db, alice, "site", project="secret")


def test_a_user_with_no_projects_sees_nothing_and_bad_keys_are_refused(
    seeded: tuple[Database, Principal],
) -> None:
    db, _ = seeded
    with db.read() as s:
        carol = Principal(user_id="no-such-user", name="carol", is_admin=False)
        assert energy_report(s, carol, "project") == []
        with pytest.raises(InvalidInput, match="cannot report energy by 'week'"):
            energy_report(s, carol, "week")


def test_days_are_utc_whatever_the_database_session_time_zone(
    seeded: tuple[Database, Principal],
) -> None:
    db, alice = seeded
    with db.read() as s:
        if s.get_bind().dialect.name == "postgresql":
            # 23:30 UTC on 1 May is 08:30 on 2 May in Tokyo.
            s.execute(text("SET TIME ZONE 'Asia/Tokyo'"))
        days = [t.key for t in energy_report(s, alice, "day")]
    assert days == ["2026-05-01", "2026-05-02"]
