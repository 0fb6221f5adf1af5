"""The scheduler's guarantees, checked on generated clusters and queues.

Capacity is never exceeded and constraints always hold; gangs are whole; fair share follows the
weights; aging lets a low-priority job through a stream of high-priority ones; backfill never
delays the job a site is held for; deferral never misses a deadline it could meet; the same
inputs give the same decisions whatever order they come in.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.compute.sansio.placement import QueuedJob, Scheduler, SiteView, schedule
from corridor.compute.sansio.resources import NOTHING, Resources
from corridor.compute.sansio.traces import HourlyTrace
from corridor.errors import InvalidInput
from tests.compute.sansio.cluster import Cluster, job, site

PROPERTY = settings(deadline=None, derandomize=True, database=None, max_examples=60)
HOUR = 3600.0
REGIONS = ("eu-west", "eu-north", "us-east")


@st.composite
def sites_strategy(draw: st.DrawFn) -> list[SiteView]:
    count = draw(st.integers(1, 5))
    sites = []
    for i in range(count):
        cpus = draw(st.sampled_from([2, 4, 8, 16]))
        gpus = draw(st.sampled_from([0, 1, 2, 4]))
        used = Resources(
            draw(st.sampled_from([0, 0, 1, cpus])), 0, draw(st.sampled_from([0, 0, gpus / 2]))
        )
        sites.append(
            site(
                f"s{i}",
                region=draw(st.sampled_from(REGIONS)),
                cpus=cpus,
                gpus=gpus,
                gpu_types=frozenset({draw(st.sampled_from(["A100", "H100"]))})
                if gpus
                else frozenset(),
                carbon=draw(st.integers(50, 600)),
                price=draw(st.sampled_from([0.05, 0.1, 0.3])),
                used=used,
                up=draw(st.booleans()) or i == 0,
            )
        )
    return sites


@st.composite
def jobs_strategy(draw: st.DrawFn, sites: list[SiteView]) -> list[QueuedJob]:
    count = draw(st.integers(1, 40))
    names = [s.name for s in sites]
    jobs = []
    for i in range(count):
        constraint = draw(st.sampled_from(["none", "none", "pin", "regions"]))
        jobs.append(
            job(
                f"j{i:03d}",
                project=draw(st.sampled_from(["a", "b", "c"])),
                priority=draw(st.integers(-5, 5)),
                submitted_at=float(draw(st.integers(0, 100))),
                cpus=draw(st.sampled_from([0.5, 1, 2, 4])),
                memory_gib=draw(st.sampled_from([0, 1, 8])),
                gpus=draw(st.sampled_from([0, 0, 0.5, 1, 2])),
                workers=draw(st.sampled_from([1, 1, 1, 2, 3])),
                gpu_type=draw(st.sampled_from([None, None, "A100", "H100"])),
                site=draw(st.sampled_from(names)) if constraint == "pin" else None,
                regions=frozenset(draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=2)))
                if constraint == "regions"
                else None,
                objective=draw(st.sampled_from(["cost", "carbon", "time"])),
                deadline=draw(st.sampled_from([None, None, 1000.0 + 700, 1000.0 + 4000])),
            )
        )
    return jobs


@PROPERTY
@given(data=st.data())
def test_placements_never_exceed_free_capacity_and_always_honour_constraints(
    data: st.DataObject,
) -> None:
    sites = data.draw(sites_strategy())
    jobs = data.draw(jobs_strategy(sites))
    by_name = {s.name: s for s in sites}
    by_id = {j.id: j for j in jobs}
    decisions = schedule(jobs, sites, 1000.0, {"a": 3.0})
    taken = {s.name: NOTHING for s in sites}
    for decision in decisions:
        if decision.site is None:
            continue
        assert decision.start_at == 1000.0  # nothing here is deferrable
        j, s = by_id[decision.job_id], by_name[decision.site]
        assert s.up
        taken[s.name] = taken[s.name] + j.need  # the whole gang, at this one site
        if j.site is not None:
            assert s.name == j.site
        if j.regions is not None:
            assert s.region in j.regions
        if j.gpu_type is not None:
            assert j.gpu_type in s.gpu_types
        assert next(c for c in decision.candidates if c.site == s.name).feasible
    for name, used in taken.items():
        assert used.fits(by_name[name].free), f"{name}: {used} placed in {by_name[name].free}"


@PROPERTY
@given(data=st.data())
def test_the_same_inputs_in_any_order_give_the_same_decisions(data: st.DataObject) -> None:
    sites = data.draw(sites_strategy())
    jobs = data.draw(jobs_strategy(sites))
    seed = data.draw(st.integers(0, 2**16))
    shuffled_jobs, shuffled_sites = list(jobs), list(sites)
    random.Random(seed).shuffle(shuffled_jobs)
    random.Random(seed + 1).shuffle(shuffled_sites)
    usage = {"a": 2.0, "b": 1.0}
    first = schedule(jobs, sites, 500.0, usage)
    again = schedule(shuffled_jobs, shuffled_sites, 500.0, usage)
    assert [(d.job_id, d.site, d.start_at, d.reason) for d in first] == [
        (d.job_id, d.site, d.start_at, d.reason) for d in again
    ]


def test_a_gang_never_splits_across_sites() -> None:
    # 10 CPUs free in all, at most 5 at one site: a gang of 2 x 3 CPUs waits.
    sites = [site("a", cpus=8, used=Resources(3, 0, 0)), site("b", cpus=8, used=Resources(3, 0, 0))]
    [decision] = schedule([job("gang", cpus=3, workers=2)], sites, 0.0, {})
    assert decision.site is None
    assert not decision.impossible
    assert decision.reason.startswith(
        "waiting: no site has room for 6 cpus, 2.0 GiB now; a is held"
    )
    [placed] = schedule([job("gang", cpus=2.5, workers=2)], sites, 0.0, {})
    assert placed.site == "a"


@pytest.mark.parametrize(
    "weights", [{"a": 1.0, "b": 1.0}, {"a": 1.0, "b": 3.0}, {"a": 2.0, "b": 1.0, "c": 1.0}]
)
def test_fair_share_converges_to_the_weights(weights: dict[str, float]) -> None:
    cluster = Cluster(
        [site("x", cpus=24, memory_gib=1024), site("y", cpus=16, memory_gib=1024)],
        Scheduler(project_weights=weights),
    )
    rng = random.Random(7)
    for project in weights:
        cluster.submit(
            *(
                job(
                    f"{project}{i}",
                    project=project,
                    submitted_at=float(i),
                    expected_duration_s=float(rng.choice([60, 90, 120])),
                )
                for i in range(600)
            )
        )
    shares: dict[str, list[float]] = {p: [] for p in weights}
    for t in range(0, 1800, 10):
        cluster.step(float(t))
        if t >= 300:
            running = {p: 0 for p in weights}
            for r in cluster.running:
                running[r.job.project] += 1
            for p in weights:
                shares[p].append(running[p] / len(cluster.running))
    total = sum(weights.values())
    for p, w in weights.items():
        assert sum(shares[p]) / len(shares[p]) == pytest.approx(w / total, abs=0.03)


@pytest.mark.parametrize(("aging_per_s", "starts"), [(1 / 60, True), (0.0, False)])
def test_aging_lets_a_low_priority_job_through_a_stream_of_high_priority_ones(
    aging_per_s: float, starts: bool
) -> None:
    cluster = Cluster([site("one", cpus=1)], Scheduler(aging_per_s=aging_per_s))
    cluster.submit(job("low", priority=-50, submitted_at=0.0, expected_duration_s=60.0))
    for minute in range(240):
        now = minute * 60.0
        cluster.submit(
            job(f"high{minute}", priority=10, submitted_at=now, expected_duration_s=60.0)
        )
        cluster.step(now)
    # Effective priority of "low" passes a fresh "high" after (10 - -50) x 60 s = 1 h.
    assert ("low" in cluster.started) is starts
    if starts:
        assert HOUR <= cluster.started["low"].start_s <= HOUR + 180


@PROPERTY
@given(
    durations=st.lists(st.integers(1, 30), min_size=3, max_size=30),
    sizes=st.lists(st.sampled_from([1, 2, 3, 4, 8]), min_size=3, max_size=30),
    second_site=st.booleans(),
)
def test_backfill_never_delays_the_job_a_site_is_held_for(
    durations: list[int], sizes: list[int], second_site: bool
) -> None:
    sites = [site("big", cpus=8, memory_gib=1024)]
    if second_site:
        sites.append(site("small", cpus=3, memory_gib=1024))
    cluster = Cluster(sites, Scheduler(backfill_window=1000))
    jobs = [
        job(
            f"j{i:02d}",
            submitted_at=float(i),
            cpus=size,
            memory_gib=0,
            expected_duration_s=60.0 * d,
        )
        for i, (d, size) in enumerate(zip(durations, sizes, strict=False))
    ]
    # A long 6-CPU job then an 8-CPU one: the second cannot start until the first ends, so the
    # big site is held for it and every later job is backfill.
    jobs[:0] = [
        job("first", submitted_at=-2.0, cpus=6, memory_gib=0, expected_duration_s=1200.0),
        job("head", submitted_at=-1.0, cpus=8, memory_gib=0, expected_duration_s=600.0),
    ]
    cluster.submit(*jobs)
    promised: dict[str, float] = {}
    now = 0.0
    while len(cluster.started) < len(jobs):
        for decision in cluster.step(now):
            if decision.site is None and "expected in" in decision.reason:
                wait = decision.reason.split("expected in ")[1].rstrip(")")
                promised.setdefault(decision.job_id, now + _seconds(wait))
        now = min(r.end_s for r in cluster.running)  # the next event: a job ends
    assert "head" in promised
    for job_id, at in promised.items():
        assert cluster.started[job_id].start_s <= at + 1e-6, job_id


def _seconds(text: str) -> float:
    from corridor.compute.sansio.units import parse_duration

    return parse_duration(text)


@PROPERTY
@given(
    hourly=st.lists(st.integers(20, 800), min_size=24, max_size=72),
    jobs=st.lists(
        st.tuples(st.integers(0, 20), st.integers(1, 6), st.integers(0, 30)),
        min_size=1,
        max_size=15,
    ),
)
def test_deferral_never_misses_a_deadline_it_could_meet(
    hourly: list[int], jobs: list[tuple[int, int, int]]
) -> None:
    forecast = HourlyTrace([(h * HOUR, float(v)) for h, v in enumerate(hourly)])
    cluster = Cluster([site("green", cpus=1000, memory_gib=4096, forecast=forecast)], Scheduler())
    deadlines = {}
    for i, (submit_h, duration_h, slack_h) in enumerate(jobs):
        deadline = (submit_h + duration_h + slack_h) * HOUR + 900.0  # the shift margin
        deadlines[f"d{i}"] = deadline
        cluster.submit(
            job(
                f"d{i}",
                submitted_at=submit_h * HOUR,
                not_before=submit_h * HOUR,
                deferrable=True,
                deadline=deadline,
                expected_duration_s=duration_h * HOUR,
                objective="carbon",
            )
        )
    for quarter in range(4 * 24 * 4):
        cluster.step(quarter * 900.0)
    assert set(cluster.started) == set(deadlines)
    for job_id, r in cluster.started.items():
        assert r.start_s >= r.job.submitted_at
        assert r.end_s <= deadlines[job_id] + 1e-6
        started_now = forecast.mean_over(
            r.job.submitted_at, r.job.submitted_at + r.job.expected_duration_s
        )
        assert forecast.mean_over(r.start_s, r.end_s) <= started_now + 1e-6


def test_a_deferred_job_is_offered_again_when_its_window_opens() -> None:
    forecast = HourlyTrace([(h * HOUR, 500.0 if h < 5 else 100.0) for h in range(24)])
    scheduler = Scheduler()
    deferrable = job("d", deferrable=True, deadline=12 * HOUR, expected_duration_s=HOUR)
    sites = [site("green", forecast=forecast)]
    [decision] = scheduler.schedule([deferrable], sites, 0.0, {})
    assert (decision.site, decision.start_at) == ("green", 5 * HOUR)
    assert scheduler.next_due() == 5 * HOUR
    assert scheduler.tick(sites, 4 * HOUR, {}) == []
    [placed] = scheduler.tick(sites, 5 * HOUR, {})
    assert (placed.site, placed.start_at) == ("green", 5 * HOUR)
    assert len(scheduler) == 0


def test_the_scheduler_refuses_nonsense_settings() -> None:
    with pytest.raises(InvalidInput, match="project 'a' needs a weight above zero"):
        Scheduler(project_weights={"a": 0.0})
    with pytest.raises(InvalidInput, match="backfill_window at least 1"):
        Scheduler(backfill_window=0)


def test_a_job_passed_no_more_is_forgotten_and_a_changed_one_replaced() -> None:
    scheduler = Scheduler()
    full = [site("x", cpus=1, used=Resources(1, 0, 0))]
    scheduler.schedule([job("a"), job("b")], full, 0.0, {})
    assert len(scheduler) == 2
    scheduler.schedule([job("b", priority=5)], full, 1.0, {})
    assert "a" not in scheduler
    [decision] = scheduler.schedule([job("b", priority=5)], [site("x", cpus=1)], 2.0, {})
    assert decision.site == "x"
    assert math.isclose(decision.start_at or 0.0, 2.0)


def test_a_job_near_its_latest_start_goes_before_higher_priority_work() -> None:
    scheduler = Scheduler()
    scheduler.add(job("vip", priority=100, cpus=4))
    scheduler.add(job("due", priority=-100, cpus=4, deadline=3000.0, expected_duration_s=600.0))
    scheduler.add(job("later", priority=-100, cpus=4, deadline=90000.0, expected_duration_s=600.0))
    decisions = scheduler.tick([site("one", cpus=4)], 0.0, {})
    # "due" must start within 40 minutes to end by its deadline: within the hour, it goes first.
    assert [(d.job_id, d.site) for d in decisions] == [("due", "one"), ("vip", None)]


def test_a_job_past_its_latest_start_waits_its_normal_turn() -> None:
    scheduler = Scheduler()
    scheduler.add(job("vip", priority=100, cpus=4))
    scheduler.add(job("late", priority=-100, cpus=4, deadline=300.0, expected_duration_s=600.0))
    decisions = scheduler.tick([site("one", cpus=4)], 0.0, {})
    assert [(d.job_id, d.site) for d in decisions] == [("vip", "one"), ("late", None)]


def test_deferred_jobs_spread_over_hours_instead_of_piling_into_the_cleanest() -> None:
    # The cleanest hour is 10:00; one site of 8 CPUs; twelve 4-CPU, 1-hour deferrable jobs.
    forecast = HourlyTrace(
        [(h * HOUR, 100.0 if h == 10 else 400.0 + 10 * abs(h - 10)) for h in range(48)]
    )
    scheduler = Scheduler(max_planned_share=0.5)
    for i in range(12):
        scheduler.add(
            job(f"d{i:02d}", cpus=4, deferrable=True, deadline=30 * HOUR, expected_duration_s=HOUR)
        )
    decisions = scheduler.tick([site("green", cpus=8, forecast=forecast)], 0.0, {})
    starts = [d.start_at for d in decisions if d.site is not None]
    assert len(starts) == 12
    assert starts.count(10 * HOUR) == 1  # half the site: one 4-CPU job in the cleanest hour
    assert all(starts.count(s) <= 1 for s in set(starts) if s and s > 0.0)


def test_an_idle_tick_is_skipped_but_new_room_is_seen() -> None:
    scheduler = Scheduler()
    scheduler.add(job("a", cpus=2))
    full = [site("x", cpus=2, used=Resources(2, 0, 0))]
    assert [d.site for d in scheduler.tick(full, 0.0, {})] == [None]  # the head's hold decision
    assert scheduler.tick(full, 1.0, {}) == []  # nothing changed: nothing to say
    [placed] = scheduler.tick([site("x", cpus=2)], 2.0, {})
    assert (placed.job_id, placed.site) == ("a", "x")


def test_a_deferred_job_passed_back_with_a_rounded_start_keeps_its_plan() -> None:
    forecast = HourlyTrace([(h * HOUR, 500.0 if h < 5 else 100.0) for h in range(24)])
    sites = [site("green", forecast=forecast)]
    deferrable = job("d", deferrable=True, deadline=12 * HOUR + 0.123, expected_duration_s=HOUR)
    scheduler = Scheduler()
    [decision] = scheduler.schedule([deferrable], sites, 0.0, {})
    assert decision.start_at == 5 * HOUR
    assert len(scheduler.planned) == 1
    stored = replace(deferrable, not_before=decision.start_at + 4e-7)  # a microsecond column
    assert scheduler.schedule([stored], sites, 60.0, {}) == []
    assert len(scheduler.planned) == 1
    moved = replace(deferrable, not_before=7 * HOUR)  # a real change is taken
    scheduler.schedule([moved], sites, 120.0, {})
    assert len(scheduler.planned) == 0
    assert scheduler.next_due() == 7 * HOUR
