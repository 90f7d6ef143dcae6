"""A recurring series' slots, expanded on the client: EWS names an occurrence by its
instance index (an OccurrenceItemId), the CRM by its original start, and the Graph
transport finds deleted occurrences as slots missing from a series' instances."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["instance_index", "local_time", "slots", "zone_of"]

_MAX_STEPS = 20000
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Z"})
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = list(calendar.month_name)[1:]
_WEEK_NUMBERS = ["First", "Second", "Third", "Fourth", "Last"]


def zone_of(name: str | None) -> dt.tzinfo:
    return dt.UTC if not name or name in UTC_NAMES else ZoneInfo(name)


def local_time(value: str, zone: dt.tzinfo) -> dt.datetime:
    """A neutral time as a naive local time in ``zone`` (dates: midnight)."""
    if len(value) == 10:
        return dt.datetime.fromisoformat(value)
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed
    return parsed.astimezone(zone).replace(tzinfo=None)


def _day_index(value: Any) -> int:
    if isinstance(value, int):
        return value - 1
    return _DAYS.index(value) if value in _DAYS else -1


def _days_of(value: Any) -> list[int]:
    """A relative pattern's weekday: a day name, or Day / Weekday / WeekendDay."""
    if value == "Day":
        return list(range(7))
    if value == "Weekday":
        return list(range(5))
    if value == "WeekendDay":
        return [5, 6]
    return [_day_index(value)]


def _nth(year: int, month: int, weekday: Any, week_number: Any) -> dt.date:
    days = [
        d
        for d in range(1, calendar.monthrange(year, month)[1] + 1)
        if dt.date(year, month, d).weekday() in _days_of(weekday)
    ]
    number = week_number if isinstance(week_number, int) else _WEEK_NUMBERS.index(week_number) + 1
    return dt.date(year, month, days[-1 if number >= 5 else number - 1])


def _month_of(value: Any) -> int:
    return value if isinstance(value, int) else _MONTHS.index(value) + 1


def _pattern_dates(pattern: dict[str, Any], first: dt.date) -> Iterator[dt.date]:
    kind = pattern.get("type")
    interval = int(pattern.get("interval") or 1)
    if kind == "daily":
        for step in range(_MAX_STEPS):
            yield first + dt.timedelta(days=step * interval)
    elif kind == "weekly":
        days = sorted({_day_index(d) for d in pattern.get("weekdays") or []} - {-1})
        days = days or [first.weekday()]
        week_first = _day_index(pattern.get("first_day_of_week") or "Monday")
        week_start = first - dt.timedelta(days=(first.weekday() - week_first) % 7)
        order = sorted(days, key=lambda d: (d - week_first) % 7)
        for _ in range(_MAX_STEPS):
            for d in order:
                day = week_start + dt.timedelta(days=(d - week_first) % 7)
                if day >= first:
                    yield day
            week_start += dt.timedelta(weeks=interval)
    elif kind in ("absolute_monthly", "absolute_yearly", "relative_monthly", "relative_yearly"):
        yearly = kind.endswith("yearly")
        year = first.year
        month = _month_of(pattern["month"]) if yearly else first.month
        step = 12 if yearly else interval
        for _ in range(_MAX_STEPS):
            if kind.startswith("absolute"):
                last = calendar.monthrange(year, month)[1]
                day = dt.date(year, month, min(int(pattern.get("day_of_month") or 1), last))
            else:
                day = _nth(year, month, pattern.get("weekday"), pattern.get("week_number"))
            if day >= first:
                yield day
            month += step
            year += (month - 1) // 12
            month = (month - 1) % 12 + 1


def slots(fields: dict[str, Any]) -> Iterator[tuple[int, dt.datetime]]:
    """``(instance index, naive local start)`` of every occurrence of a series (bounded)."""
    recurrence = fields.get("recurrence") or {}
    if not recurrence.get("pattern") or not fields.get("start"):
        return
    start = local_time(fields["start"], zone_of(fields.get("timezone")))
    boundary = recurrence.get("boundary") or {}
    first = dt.date.fromisoformat(boundary["start"][:10]) if boundary.get("start") else None
    first = first or start.date()
    end = boundary.get("end") if boundary.get("type") == "end_date" else None
    last_day = dt.date.fromisoformat(end[:10]) if end else None
    number = int(boundary.get("number") or 0) if boundary.get("type") == "numbered" else 0
    for index, day in enumerate(_pattern_dates(recurrence["pattern"], first), start=1):
        if (last_day and day > last_day) or (number and index > number):
            return
        yield index, dt.datetime.combine(day, start.time())


def instance_index(fields: dict[str, Any], original_start: str) -> int | None:
    """The instance index of the slot starting at ``original_start``; ``None`` if the
    pattern has no such slot."""
    wanted = local_time(original_start, zone_of(fields.get("timezone")))
    for index, start in slots(fields):
        if start == wanted:
            return index
        if start > wanted:
            return None
    return None
