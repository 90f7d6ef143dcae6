"""Expand an EWS ``t:Recurrence`` element into occurrences, in the series' own time zone.

Exchange keeps a series' wall-clock time in the zone the item was saved with
(``t:StartTimeZone`` / ``t:EndTimeZone``, Windows zone ids such as "GMT Standard Time"),
so a 09:00 Europe/London weekly meeting is at 08:00Z in summer and 09:00Z in winter.
The pattern's days (weekdays, day of month, range start/end dates) are local dates in
that zone. Start/End are stored and returned in UTC, as Exchange does; the expansion
below never looks at the emulator's own local zone (the TZ environment variable).

Rules that follow Exchange:

* An occurrence's index (``OccurrenceItemId/@InstanceIndex``) is its 1-based position in
  the expansion; deleting or moving occurrences never renumbers the others.
* Start and end keep their local wall-clock times; a local time that does not exist on a
  spring-forward day is shifted by the gap (zoneinfo's ``fold=0``).
* Changing a series' pattern or time (Recurrence, Start, End or the start time zone of
  the master) deletes its exceptions and restores its deleted occurrences
  (``series_signature`` tells when that happened).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml import etree

from .xmlutil import local, tq

MAX_OCCURRENCES = 1000  # NoEndRecurrence is cut off here; every loop below is bounded
_MAX_STEPS = 20000

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_INDEXES = ["First", "Second", "Third", "Fourth", "Last"]
UTC = dt.UTC


def parse_dt(text: str) -> dt.datetime:
    """An xs:dateTime as an aware UTC datetime (a value without offset is taken as UTC)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_date(text: str) -> dt.date:
    text = text.strip()
    return dt.date.fromisoformat(text[:10])


@functools.cache
def _windows_to_iana() -> dict[str, str]:
    # The CLDR table of Windows zone ids (shipped with exchangelib, a dependency of WESS).
    from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

    return dict(MS_TIMEZONE_TO_IANA_MAP)


@functools.cache
def zone_from_id(zone_id: str | None) -> dt.tzinfo:
    """A Windows zone id ("W. Europe Standard Time") or an IANA name -> tzinfo (UTC if
    unknown or empty)."""
    if not zone_id:
        return UTC
    name = _windows_to_iana().get(zone_id, zone_id)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def item_zone(elem, which: str = "Start") -> dt.tzinfo:
    """The zone a calendar item was saved in (``t:StartTimeZone`` or ``t:EndTimeZone``)."""
    node = elem.find(tq(f"{which}TimeZone"))
    if node is None and which == "End":
        node = elem.find(tq("StartTimeZone"))
    if node is None:
        return UTC
    return zone_from_id(node.get("Id") or node.get("Name"))


def series_signature(elem) -> tuple:
    """What defines a series' occurrences; when it changes, Exchange drops the exceptions."""
    rec = elem.find(tq("Recurrence"))
    times = []
    for name in ("Start", "End"):
        text = elem.findtext(tq(name))
        times.append(parse_dt(text) if text else None)
    zone = elem.find(tq("StartTimeZone"))
    return (
        etree.tostring(rec, method="c14n") if rec is not None else None,
        *times,
        zone.get("Id") if zone is not None else None,
    )


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
    elif kind in ("RelativeMonthlyRecurrence", "RelativeYearlyRecurrence"):
        days = _weekdays(pattern.findtext(tq("DaysOfWeek"))) or [start_date.weekday()]
        index = pattern.findtext(tq("DayOfWeekIndex")) or "First"
        nth = _INDEXES.index(index) if index in _INDEXES else 0
        if kind == "RelativeYearlyRecurrence":
            month_name = pattern.findtext(tq("Month")) or calendar.month_name[start_date.month]
            year, month, step = start_date.year, list(calendar.month_name).index(month_name), 12
        else:
            year, month, step = start_date.year, start_date.month, interval
        for _ in range(_MAX_STEPS):
            last = calendar.monthrange(year, month)[1]
            matching = [d for d in range(1, last + 1) if dt.date(year, month, d).weekday() in days]
            day = dt.date(year, month, matching[-1] if nth == 4 else matching[nth])
            if day >= start_date:
                yield day
            month += step
            year += (month - 1) // 12
            month = (month - 1) % 12 + 1


def _wall(day: dt.date, clock: dt.time, zone: dt.tzinfo) -> dt.datetime:
    """Local ``day`` at wall-clock ``clock`` in ``zone``, as UTC."""
    return dt.datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def occurrences(master_elem, limit: int = MAX_OCCURRENCES):
    """Yield ``(index, start, end)`` (1-based index, UTC datetimes) for a recurring master.

    Each occurrence keeps the master's local wall-clock start (in its StartTimeZone) and
    end (in its EndTimeZone), shifted by whole days."""
    rec = master_elem.find(tq("Recurrence"))
    start_text = master_elem.findtext(tq("Start"))
    end_text = master_elem.findtext(tq("End"))
    if rec is None or start_text is None or len(rec) < 2:
        return
    start_zone, end_zone = item_zone(master_elem, "Start"), item_zone(master_elem, "End")
    start = parse_dt(start_text).astimezone(start_zone)
    end = parse_dt(end_text).astimezone(end_zone) if end_text else start + dt.timedelta(hours=1)
    end_days = (end.date() - start.date()).days
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
        occ_start = _wall(day, start.time(), start_zone)
        occ_end = _wall(day + dt.timedelta(days=end_days), end.time(), end_zone)
        yield index, occ_start, max(occ_end, occ_start)
