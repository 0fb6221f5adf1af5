"""Cron expressions: parse five fields, find the next fire in a time zone, apply a missed policy.

Pure: plain values in, plain values out. Instants are aware UTC datetimes; the expression is
read in the schedule's IANA zone, so ``0 9 * * *`` in ``Europe/Paris`` fires at 09:00 Paris time
whatever the season. Daylight saving time: a local time that does not exist (the spring gap)
fires at the first moment after the gap; a local time that happens twice (the autumn fold)
fires once, at its first occurrence. Day of month and day of week combine as Vixie cron does:
when both fields are restricted (neither starts with ``*``) a day matching either one fires;
otherwise a day must match both.

The search walks local wall-clock candidates in increasing order. Mapping a wall time to an
instant (gap -> end of the gap, fold -> first occurrence) never goes backwards, so the first
candidate whose instant lies after ``after`` is the next fire.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from corridor.errors import InvalidInput

Missed = Literal["skip", "once", "all"]

MAX_ALL_FIRES = 100
# A fire at most this old when the loop sees it is on time, not missed (a tick or a quick
# restart late): every policy runs it.
ON_TIME_S = 60.0
# Long enough to see every weekday on 29 February (the calendar repeats every 28 years).
SEARCH_YEARS = 30

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTH_NAMES = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# (field name, low, high, names)
FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, MONTH_NAMES),
    ("day-of-week", 0, 7, DAY_NAMES),
)
UTC = dt.UTC


@dataclass(frozen=True)
class Cron:
    """A parsed expression: the allowed values of each field (day of week 0 = Sunday)."""

    expr: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: tuple[int, ...]
    weekdays: frozenset[int]
    # Vixie cron's rule: both restricted -> a day matches either; else it must match both.
    either_day: bool

    def day_matches(self, day: dt.date) -> bool:
        weekday = (day.weekday() + 1) % 7
        in_days, in_weekdays = day.day in self.days, weekday in self.weekdays
        return (in_days or in_weekdays) if self.either_day else (in_days and in_weekdays)


def _refuse(expr: str, why: str) -> InvalidInput:
    return InvalidInput(f"cron '{expr}': {why}")


def _value(expr: str, field: str, text: str, low: int, high: int, names: dict[str, int]) -> int:
    number = names.get(text.lower())
    if number is None:
        if not text.isdigit():
            known = f" or a name ({', '.join(names)})" if names else ""
            raise _refuse(expr, f"{field} '{text}' is not a number{known}")
        number = int(text)
    if not low <= number <= high:
        raise _refuse(expr, f"{field} {number} is out of range {low}-{high}")
    return number


def _field(
    expr: str, field: str, text: str, low: int, high: int, names: dict[str, int]
) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise _refuse(expr, f"{field} step '{step_text}' must be a whole number above 0")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, _, last_text = base.partition("-")
            first = _value(expr, field, first_text, low, high, names)
            last = _value(expr, field, last_text, low, high, names)
            if first > last:
                raise _refuse(expr, f"{field} range {base} runs backwards")
        elif base:
            first = _value(expr, field, base, low, high, names)
            # "5/15" means from 5 to the end, every 15 (as Vixie cron reads it).
            last = high if slash else first
        else:
            raise _refuse(expr, f"{field} has an empty part in '{text}'")
        values.update(range(first, last + 1, step))
    return values


@lru_cache(maxsize=1024)
def parse(expr: str) -> Cron:
    """Parse a five-field expression or an ``@alias``; `InvalidInput` names the bad field."""
    text = " ".join(expr.split())
    text = ALIASES.get(text.lower(), text)
    if text.startswith("@"):
        raise _refuse(expr, f"unknown alias {text} (use one of {', '.join(ALIASES)})")
    parts = text.split(" ")
    if len(parts) != 5:
        raise _refuse(
            expr,
            f"has {len(parts)} fields, expected 5 (minute hour day-of-month month day-of-week)",
        )
    sets = [
        _field(expr, name, part, low, high, names)
        for part, (name, low, high, names) in zip(parts, FIELDS, strict=True)
    ]
    minutes, hours, days, months, weekdays = sets
    if 7 in weekdays:
        weekdays = (weekdays - {7}) | {0}
    cron = Cron(
        expr=expr,
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=tuple(sorted(months)),
        weekdays=frozenset(weekdays),
        either_day=not parts[2].startswith("*") and not parts[4].startswith("*"),
    )
    if not cron.either_day and not any(
        day <= _longest_month(month) for month in cron.months for day in days
    ):
        raise _refuse(expr, "never fires (no month in it has that day)")
    return cron


def _longest_month(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; `InvalidInput` for one this system does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone '{name}' (use an IANA name such as 'UTC' or 'Europe/Paris')"
        ) from None


def _instant(wall: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant of a local wall time: the first occurrence in a fold, the end of a gap."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=1 reads the wall time with the offset after the change, fold=0 with the one
    # before; the change lies between the two instants. Find it to the second.
    other = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = int(min(first, other).timestamp()), int(max(first, other).timestamp())
    after_offset = dt.datetime.fromtimestamp(high, tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if dt.datetime.fromtimestamp(middle, tz).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return dt.datetime.fromtimestamp(high, UTC)


def _walls(cron: Cron, start: dt.datetime) -> Iterator[dt.datetime]:
    """Matching local wall times at or after ``start`` (naive), in increasing order."""
    for year in range(start.year, start.year + SEARCH_YEARS + 1):
        for month in cron.months:
            if (year, month) < (start.year, start.month):
                continue
            for day in range(1, calendar.monthrange(year, month)[1] + 1):
                date = dt.date(year, month, day)
                if date < start.date() or not cron.day_matches(date):
                    continue
                for hour in cron.hours:
                    for minute in cron.minutes:
                        wall = dt.datetime(year, month, day, hour, minute)
                        if wall >= start:
                            yield wall


def fires(expr: str | Cron, after: dt.datetime, tz: str) -> Iterator[dt.datetime]:
    """Every fire strictly after ``after`` (aware), in order, as aware UTC instants."""
    cron = parse(expr) if isinstance(expr, str) else expr
    zone_info = zone(tz)
    after = after.astimezone(UTC)
    local = after.astimezone(zone_info)
    start = local.replace(tzinfo=None, second=0, microsecond=0)
    if local.fold:
        # After lies in the second pass of a fold: its wall time was first seen up to a few
        # hours earlier, so walk from before the fold (those candidates are all skipped).
        start -= dt.timedelta(hours=3)
    last = after
    for wall in _walls(cron, start):
        instant = _instant(wall, zone_info)
        if instant > last:
            last = instant
            yield instant


def next_fire(expr: str | Cron, after: dt.datetime, tz: str) -> dt.datetime:
    """The first fire strictly after ``after`` (aware), in UTC."""
    for instant in fires(expr, after, tz):
        return instant
    raise InvalidInput(f"cron '{expr}' never fires in the next {SEARCH_YEARS} years")


def due(
    expr: str | Cron,
    tz: str,
    next_fire_at: dt.datetime,
    now: dt.datetime,
    missed: Missed,
    *,
    on_time_s: float = ON_TIME_S,
) -> tuple[list[dt.datetime], dt.datetime]:
    """The fires to run now, and the next fire after ``now``.

    ``next_fire_at`` (the stored fire) and the fires after it up to ``now`` are due; those
    older than ``on_time_s`` were missed (the server was down). ``skip`` runs only the
    on-time ones, ``once`` runs the latest due fire alone, ``all`` runs every due fire (the
    latest `MAX_ALL_FIRES`).
    """
    cron = parse(expr) if isinstance(expr, str) else expr
    if next_fire_at > now:
        return [], next_fire_at
    keep = 1 if missed == "once" else MAX_ALL_FIRES
    # Walk back from now in widening windows, so a long outage of a frequent schedule costs
    # a few windows of fires, not every fire since the outage began.
    window = dt.timedelta(hours=1)
    while True:
        covers_all = now - window <= next_fire_at
        start = next_fire_at if covers_all else now - window
        recent: deque[dt.datetime] = deque(maxlen=keep)
        if covers_all:
            # The stored fire is a fire, whatever the expression says now: the row decides.
            recent.append(next_fire_at)
        upcoming = now
        for instant in fires(cron, start, tz):
            if instant > now:
                upcoming = instant
                break
            recent.append(instant)
        if len(recent) == keep or covers_all:
            break
        window *= 4
    if upcoming <= now:
        upcoming = next_fire(cron, now, tz)
    chosen = list(recent)
    if missed == "skip":
        chosen = [f for f in chosen if (now - f).total_seconds() <= on_time_s]
    return chosen, upcoming
