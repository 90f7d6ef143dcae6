"""Expand an EWS ``t:Recurrence`` element into occurrences (UTC arithmetic, bounded)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator

from .xmlutil import local, tq

MAX_OCCURRENCES = 1000  # NoEndRecurrence is cut off here; every loop below is bounded
_MAX_STEPS = 20000

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def parse_dt(text: str) -> dt.datetime:
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def parse_date(text: str) -> dt.date:
    text = text.strip()
    return dt.date.fromisoformat(text[:10])


def _weekdays(text: str | None) -> list[int]:
    out = []
    for word in (text or "").split():
        if word in DAYS:
            out.append(DAYS.index(word))
        elif word == "Day":
            out.extend(range(7))
        elif word == "Weekday":
            out.extend(range(5))
        elif word == "WeekendDay":
            out.extend([5, 6])
    return sorted(set(out))


def _dates(pattern, start_date: dt.date) -> Iterator[dt.date]:
    kind = local(pattern.tag)
    interval = int(pattern.findtext(tq("Interval")) or 1)
    if kind == "DailyRecurrence":
        day = start_date
        for _ in range(_MAX_STEPS):
            yield day
            day += dt.timedelta(days=interval)
    elif kind == "WeeklyRecurrence":
        days = _weekdays(pattern.findtext(tq("DaysOfWeek"))) or [start_date.weekday()]
        first = pattern.findtext(tq("FirstDayOfWeek")) or "Sunday"
        first_idx = DAYS.index(first) if first in DAYS else 6
        offset = (start_date.weekday() - first_idx) % 7
        week_start = start_date - dt.timedelta(days=offset)
        order = sorted(days, key=lambda d: (d - first_idx) % 7)
        for _ in range(_MAX_STEPS):
            for d in order:
                day = week_start + dt.timedelta(days=(d - first_idx) % 7)
                if day >= start_date:
                    yield day
            week_start += dt.timedelta(weeks=interval)
    elif kind in ("AbsoluteMonthlyRecurrence", "AbsoluteYearlyRecurrence"):
        dom = int(pattern.findtext(tq("DayOfMonth")) or start_date.day)
        if kind == "AbsoluteYearlyRecurrence":
            month_name = pattern.findtext(tq("Month")) or calendar.month_name[start_date.month]
            month = list(calendar.month_name).index(month_name)
            year, step = start_date.year, 12
            if (month, dom) < (start_date.month, start_date.day):
                year += 1
        else:
            year, month, step = start_date.year, start_date.month, interval
        for _ in range(_MAX_STEPS):
            last = calendar.monthrange(year, month)[1]
            day = dt.date(year, month, min(dom, last))
            if day >= start_date:
                yield day
            month += step
            year += (month - 1) // 12
            month = (month - 1) % 12 + 1
    # Relative patterns are not expanded: the master is the only instance.


def occurrences(master_elem, limit: int = MAX_OCCURRENCES):
    """Yield ``(index, start, end)`` (1-based index, UTC datetimes) for a recurring master."""
    rec = master_elem.find(tq("Recurrence"))
    start_text = master_elem.findtext(tq("Start"))
    end_text = master_elem.findtext(tq("End"))
    if rec is None or start_text is None or len(rec) < 2:
        return
    start = parse_dt(start_text)
    duration = parse_dt(end_text) - start if end_text else dt.timedelta(hours=1)
    pattern, rng = rec[0], rec[1]
    range_start = rng.findtext(tq("StartDate"))
    first_date = parse_date(range_start) if range_start else start.date()
    end_date = None
    count = limit
    if local(rng.tag) == "EndDateRecurrence" and rng.findtext(tq("EndDate")):
        end_date = parse_date(rng.findtext(tq("EndDate")))
    elif local(rng.tag) == "NumberedRecurrence":
        count = min(limit, int(rng.findtext(tq("NumberOfOccurrences")) or 1))
    index = 0
    for day in _dates(pattern, first_date):
        if index >= count or (end_date is not None and day > end_date):
            return
        index += 1
        occ_start = dt.datetime.combine(day, start.timetz())
        yield index, occ_start, occ_start + duration
