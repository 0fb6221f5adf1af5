"""Cron parsing, next fires in time zones across daylight saving changes, and missed policies."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from corridor.errors import InvalidInput
from corridor.pipelines.sansio.cron import MAX_ALL_FIRES, due, fires, next_fire, parse, zone

UTC = dt.UTC


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type,misc]


def first(expr: str, after: dt.datetime, tz: str = "UTC", count: int = 5) -> list[dt.datetime]:
    return list(itertools.islice(fires(expr, after, tz), count))


def local(instant: dt.datetime, tz: str) -> str:
    return instant.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M %Z")


# --- parsing ---------------------------------------------------------------------------------


def test_parse_reads_lists_ranges_steps_and_names() -> None:
    cron = parse("0,30 9-17/2 */10 jan-mar,DEC mon-fri")
    assert cron.minutes == (0, 30)
    assert cron.hours == (9, 11, 13, 15, 17)
    assert cron.days == frozenset({1, 11, 21, 31})
    assert cron.months == (1, 2, 3, 12)
    assert cron.weekdays == frozenset({1, 2, 3, 4, 5})


def test_parse_reads_a_start_with_a_step_as_a_range_to_the_end() -> None:
    assert parse("5/20 * * * *").minutes == (5, 25, 45)


def test_parse_treats_seven_as_sunday() -> None:
    assert parse("0 0 * * 7").weekdays == frozenset({0})
    assert parse("0 0 * * 5-7").weekdays == frozenset({0, 5, 6})


@pytest.mark.parametrize(
    ("alias", "fields"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_aliases_mean_their_five_fields(alias: str, fields: str) -> None:
    after = at(2026, 5, 17, 13, 7)
    assert first(alias, after) == first(fields, after)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("61 * * * *", "cron '61 * * * *': minute 61 is out of range 0-59"),
        ("* 24 * * *", "hour 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month 0 is out of range 1-31"),
        ("* * * 13 *", "month 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week 8 is out of range 0-7"),
        ("* * * foo *", "month 'foo' is not a number or a name"),
        ("* * * * funday", "day-of-week 'funday' is not a number"),
        ("*/0 * * * *", "minute step '0' must be a whole number above 0"),
        ("*/x * * * *", "minute step 'x'"),
        ("30-10 * * * *", "minute range 30-10 runs backwards"),
        ("1,,2 * * * *", "minute has an empty part"),
        ("* * * *", "has 4 fields, expected 5"),
        ("* * * * * *", "has 6 fields, expected 5"),
        ("@reboot", "unknown alias @reboot"),
        ("0 0 30 2 *", "never fires"),
        ("-1 * * * *", "minute '' is not a number"),
    ],
)
def test_parse_refuses_bad_expressions_naming_the_field(expr: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=None) as caught:
        parse(expr)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"cron '{expr}'")


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown time zone 'Mars/Olympus'"):
        next_fire("* * * * *", at(2026, 1, 1), "Mars/Olympus")
    with pytest.raises(InvalidInput, match="unknown time zone"):
        zone("../etc/passwd")


# --- next fires ------------------------------------------------------------------------------


def test_next_fire_is_strictly_after() -> None:
    assert next_fire("*/15 * * * *", at(2026, 1, 1, 10, 15), "UTC") == at(2026, 1, 1, 10, 30)
    assert next_fire("*/15 * * * *", at(2026, 1, 1, 10, 14, 59), "UTC") == at(2026, 1, 1, 10, 15)


def test_next_fire_rolls_over_months_and_years() -> None:
    assert next_fire("0 0 1 1 *", at(2026, 6, 1), "UTC") == at(2027, 1, 1)
    assert next_fire("0 12 31 * *", at(2026, 4, 1), "UTC") == at(2026, 5, 31, 12)


def test_leap_day_fires_only_in_leap_years() -> None:
    assert first("0 0 29 2 *", at(2026, 1, 1), count=2) == [at(2028, 2, 29), at(2032, 2, 29)]


def test_weekday_names_pick_the_right_days() -> None:
    # 2026-12-07 is a Monday.
    fired = first("0 9 * * mon,wed,fri", at(2026, 12, 7), count=4)
    assert [f.strftime("%a %d") for f in fired] == ["Mon 07", "Wed 09", "Fri 11", "Mon 14"]


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # Vixie cron: the 13th, or any Friday.
    fired = first("0 0 13 * fri", at(2026, 2, 1), count=5)
    assert [f.strftime("%a %d") for f in fired] == [
        "Fri 06",
        "Fri 13",
        "Fri 20",
        "Fri 27",
        "Fri 06",
    ]
    fired = first("0 0 1 * mon", at(2026, 6, 1), count=3)
    assert [f.strftime("%m-%d") for f in fired] == ["06-08", "06-15", "06-22"]


def test_a_star_day_field_makes_both_days_required() -> None:
    # "*/2" starts with a star: day-of-month is not restricted, so the weekday alone decides
    # among the odd days (as Vixie cron reads it).
    fired = first("0 0 */2 * mon", at(2026, 5, 31), count=3)
    assert [f.strftime("%a %d") for f in fired] == ["Mon 01", "Mon 15", "Mon 29"]


def test_fires_in_the_schedule_time_zone() -> None:
    assert next_fire("0 9 * * *", at(2026, 1, 10), "Europe/Paris") == at(2026, 1, 10, 8)
    assert next_fire("0 9 * * *", at(2026, 7, 10), "Europe/Paris") == at(2026, 7, 10, 7)
    assert next_fire("0 9 * * *", at(2026, 7, 10), "America/New_York") == at(2026, 7, 10, 13)


def test_paris_spring_gap_fires_once_at_the_end_of_the_gap() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:xx does not exist that day.
    fired = first("*/20 2 * * *", at(2026, 3, 28, 12), "Europe/Paris", count=4)
    assert [local(f, "Europe/Paris") for f in fired] == [
        "2026-03-29 03:00 CEST",
        "2026-03-30 02:00 CEST",
        "2026-03-30 02:20 CEST",
        "2026-03-30 02:40 CEST",
    ]
    assert fired[0] == at(2026, 3, 29, 1)


def test_daily_schedule_keeps_its_wall_time_across_the_paris_changes() -> None:
    fired = first("30 8 * * *", at(2026, 3, 27), "Europe/Paris", count=4)
    assert [f.hour for f in fired] == [7, 7, 6, 6]  # CET then CEST
    fired = first("30 8 * * *", at(2026, 10, 23), "Europe/Paris", count=4)
    assert [f.hour for f in fired] == [6, 6, 7, 7]  # CEST then CET


def test_paris_autumn_fold_fires_once_at_the_first_occurrence() -> None:
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    fired = first("30 2 * * *", at(2026, 10, 24, 12), "Europe/Paris", count=2)
    assert [local(f, "Europe/Paris") for f in fired] == [
        "2026-10-25 02:30 CEST",
        "2026-10-26 02:30 CET",
    ]


def test_new_york_spring_gap_and_every_minute_schedule() -> None:
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    fired = first("* * * * *", at(2026, 3, 8, 6, 58), "America/New_York", count=4)
    assert [local(f, "America/New_York") for f in fired] == [
        "2026-03-08 01:59 EST",
        "2026-03-08 03:00 EDT",
        "2026-03-08 03:01 EDT",
        "2026-03-08 03:02 EDT",
    ]
    assert next_fire("15 2 * * *", at(2026, 3, 7, 12), "America/New_York") == at(2026, 3, 8, 7)


def test_new_york_autumn_fold_skips_the_repeated_hour() -> None:
    # 2026-11-01: 02:00 EDT falls back to 01:00 EST; the hour 01:xx is seen twice.
    fired = first("*/30 * * * *", at(2026, 11, 1, 4), "America/New_York", count=5)
    assert [local(f, "America/New_York") for f in fired] == [
        "2026-11-01 00:30 EDT",
        "2026-11-01 01:00 EDT",
        "2026-11-01 01:30 EDT",
        "2026-11-01 02:00 EST",
        "2026-11-01 02:30 EST",
    ]


def test_next_fire_from_inside_the_second_pass_of_a_fold() -> None:
    # 06:10 UTC is 01:10 EST, in the repeated hour: 01:30 was already fired (as EDT).
    assert next_fire("30 1 * * *", at(2026, 11, 1, 6, 10), "America/New_York") == at(
        2026, 11, 2, 6, 30
    )
    assert next_fire("*/30 * * * *", at(2026, 11, 1, 6, 10), "America/New_York") == at(
        2026, 11, 1, 7
    )


def test_next_fire_accepts_any_aware_datetime() -> None:
    paris = dt.datetime(2026, 1, 10, 9, 0, tzinfo=zone("Europe/Paris"))
    assert next_fire("0 * * * *", paris, "UTC") == at(2026, 1, 10, 9)


# --- missed policies -------------------------------------------------------------------------


def test_nothing_due_before_the_next_fire() -> None:
    assert due("0 * * * *", "UTC", at(2026, 1, 1, 5), at(2026, 1, 1, 4, 59), "all") == (
        [],
        at(2026, 1, 1, 5),
    )


@pytest.mark.parametrize("missed", ["skip", "once", "all"])
def test_an_on_time_fire_runs_under_every_policy(missed: str) -> None:
    fired, upcoming = due("0 * * * *", "UTC", at(2026, 1, 1, 5), at(2026, 1, 1, 5, 0, 1), missed)  # type: ignore[arg-type]
    assert fired == [at(2026, 1, 1, 5)]
    assert upcoming == at(2026, 1, 1, 6)


def test_skip_runs_none_of_the_missed_fires() -> None:
    fired, upcoming = due("0 * * * *", "UTC", at(2026, 1, 1, 5), at(2026, 1, 1, 8, 20), "skip")
    assert fired == []
    assert upcoming == at(2026, 1, 1, 9)


def test_skip_still_runs_a_fire_of_the_last_minute() -> None:
    fired, _ = due("0 * * * *", "UTC", at(2026, 1, 1, 5), at(2026, 1, 1, 8, 0, 30), "skip")
    assert fired == [at(2026, 1, 1, 8)]


def test_once_runs_the_latest_missed_fire_alone() -> None:
    fired, upcoming = due("0 * * * *", "UTC", at(2026, 1, 1, 5), at(2026, 1, 1, 8, 20), "once")
    assert fired == [at(2026, 1, 1, 8)]
    assert upcoming == at(2026, 1, 1, 9)


def test_all_runs_every_missed_fire_in_order() -> None:
    fired, upcoming = due("0 * * * *", "UTC", at(2026, 1, 1, 5), at(2026, 1, 1, 8, 20), "all")
    assert fired == [at(2026, 1, 1, 5), at(2026, 1, 1, 6), at(2026, 1, 1, 7), at(2026, 1, 1, 8)]
    assert upcoming == at(2026, 1, 1, 9)


def test_all_is_capped_at_the_latest_hundred() -> None:
    now = at(2026, 3, 1, 0, 0, 30)
    fired, upcoming = due("* * * * *", "UTC", at(2026, 1, 1), now, "all")
    assert len(fired) == MAX_ALL_FIRES
    assert fired[-1] == at(2026, 3, 1)
    assert fired[0] == at(2026, 3, 1) - dt.timedelta(minutes=MAX_ALL_FIRES - 1)
    assert upcoming == at(2026, 3, 1, 0, 1)


def test_once_after_a_long_outage_of_a_frequent_schedule() -> None:
    fired, upcoming = due("* * * * *", "UTC", at(2020, 1, 1), at(2026, 1, 1, 0, 0, 30), "once")
    assert fired == [at(2026, 1, 1)]
    assert upcoming == at(2026, 1, 1, 0, 1)


def test_due_counts_missed_fires_across_a_dst_gap_once() -> None:
    # From 02:00 Paris on the 28th to just after the gap on the 29th: three fires on the 28th,
    # and the gap's three (02:00, 02:20, 02:40 do not exist) as one at 03:00 CEST.
    fired, upcoming = due(
        "*/20 2 * * *", "Europe/Paris", at(2026, 3, 28, 1), at(2026, 3, 29, 1, 0, 10), "all"
    )
    assert fired == [
        at(2026, 3, 28, 1),
        at(2026, 3, 28, 1, 20),
        at(2026, 3, 28, 1, 40),
        at(2026, 3, 29, 1),
    ]
    assert upcoming == at(2026, 3, 30, 0)


def test_the_stored_next_fire_is_a_fire_even_off_the_expression() -> None:
    # The row decides: a next_fire_at stored as 10:07 fires at 10:07, then the expression goes on.
    fired, upcoming = due(
        "0 * * * *", "UTC", at(2026, 1, 1, 10, 7), at(2026, 1, 1, 10, 7, 5), "skip"
    )
    assert fired == [at(2026, 1, 1, 10, 7)]
    assert upcoming == at(2026, 1, 1, 11)
