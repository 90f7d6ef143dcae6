"""Neutral calendar fields ↔ Microsoft Graph event JSON (pure: no requests here).

The neutral shapes are those of ``wess_core.sync.itemtypes`` (meetings): a meeting keeps
its IANA ``timezone`` (none for UTC); ``start``/``end`` are local times in it with their
offset, or dates for all-day events (``end`` the last day, inclusive). Graph sends
``{"dateTime": <local time, no offset>, "timeZone": <zone>}`` and an all-day event's end
is the next midnight (exclusive), so both conversions go through the meeting's zone.

``recurrence`` maps onto Graph's patternedRecurrence; EWS names the pattern's days,
months and week numbers ("Monday", "January", "First"), Graph lower-case days, month
numbers and "first". A series' exceptions and cancelled occurrences are not event
fields in Graph: ``occurrence_entry`` turns an exception event into a
``modified_occurrences`` entry and ``occurrence_patch`` an entry into the PATCH that
makes an occurrence that exception.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wess_core.sync.occurrence_slots import UTC_NAMES

#: Fields an exception may change besides its times (neutral names).
OCCURRENCE_FIELDS = ("subject", "location", "body")

_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_INDEXES = ["first", "second", "third", "fourth", "last"]
#: EWS's day groups of relative patterns, as Graph lists them.
_DAY_GROUPS = {"Day": _DAYS, "Weekday": _DAYS[:5], "WeekendDay": _DAYS[5:]}
_PATTERN_TYPES = {
    "daily": "daily",
    "weekly": "weekly",
    "absolute_monthly": "absoluteMonthly",
    "relative_monthly": "relativeMonthly",
    "absolute_yearly": "absoluteYearly",
    "relative_yearly": "relativeYearly",
}
_PATTERN_NAMES = {v: k for k, v in _PATTERN_TYPES.items()}
_RANGE_TYPES = {"end_date": "endDate", "no_end": "noEnd", "numbered": "numbered"}
_RANGE_NAMES = {v: k for k, v in _RANGE_TYPES.items()}


# -- zones and times ------------------------------------------------------------------


def zone_name(value: Any) -> str | None:
    """A Graph ``timeZone`` (IANA, or a Windows id as Outlook may send) as the neutral
    IANA name; ``None`` for UTC or a zone nobody knows."""
    if not isinstance(value, str) or not value or value in UTC_NAMES:
        return None
    try:
        ZoneInfo(value)
        return value
    except (ZoneInfoNotFoundError, ValueError):
        pass
    from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP  # the CLDR Windows zone table

    name = MS_TIMEZONE_TO_IANA_MAP.get(value)
    return None if name is None or name in UTC_NAMES else name


def zone_of(name: str | None) -> dt.tzinfo:
    return dt.UTC if not name or name in UTC_NAMES else ZoneInfo(name)


def _graph_text(local: dt.datetime) -> str:
    return local.strftime("%Y-%m-%dT%H:%M:%S.0000000")


def when_to_graph(value: str, zone: str | None, all_day: bool, end: bool = False) -> dict:
    """A neutral start/end -> Graph dateTimeTimeZone in the meeting's zone (an all-day
    end, the last day, becomes the next midnight)."""
    tz = zone_of(zone)
    if len(value) == 10:
        local = dt.datetime.fromisoformat(value)
    else:
        parsed = dt.datetime.fromisoformat(value)
        local = parsed if parsed.tzinfo is None else parsed.astimezone(tz).replace(tzinfo=None)
    if all_day:
        local = dt.datetime.combine(local.date(), dt.time())
        if end:
            local += dt.timedelta(days=1)
    return {"dateTime": _graph_text(local), "timeZone": zone or "UTC"}


def instant(value: Mapping[str, Any]) -> dt.datetime:
    """A Graph dateTimeTimeZone as an aware datetime."""
    parsed = dt.datetime.fromisoformat(str(value["dateTime"]).replace("Z", ""))
    if parsed.tzinfo is not None:
        return parsed
    return parsed.replace(tzinfo=zone_of(zone_name(value.get("timeZone"))))


def when_from_graph(
    value: Mapping[str, Any] | None, zone: str | None, all_day: bool, end: bool = False
) -> str | None:
    """A Graph dateTimeTimeZone -> neutral: local time in the meeting's zone with its
    offset, or a date for all-day events (an end becomes the last day; all-day times
    are midnights of their days in any zone Graph gives them in)."""
    if not value or not value.get("dateTime"):
        return None
    if all_day:  # midnights, whatever zone they are given in: the date as written
        day = dt.date.fromisoformat(str(value["dateTime"])[:10])
        return (day - dt.timedelta(days=1) if end else day).isoformat()
    return instant(value).astimezone(zone_of(zone)).isoformat()


def utc_to_local(text: str, zone: str | None, all_day: bool) -> str:
    """A UTC instant ("2026-10-12T08:00:00Z", an ``originalStart``) as a neutral time."""
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    local = parsed.astimezone(zone_of(zone))
    return local.date().isoformat() if all_day else local.isoformat()


def as_instant(value: str, zone: str | None = None) -> dt.datetime:
    """A neutral time or date as an aware instant (no offset: local in ``zone``)."""
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone_of(zone))


# -- recurrence -------------------------------------------------------------------------


def _days_to_graph(value: Any) -> list[str]:
    names = value if isinstance(value, list | tuple) else [value]
    out: list[str] = []
    for name in names:
        if name in _DAY_GROUPS:
            out += _DAY_GROUPS[name]
        elif isinstance(name, str) and name.lower() in _DAYS:
            out.append(name.lower())
    return out


def _day_from_graph(days: list[str]) -> str | None:
    for group, members in _DAY_GROUPS.items():
        if sorted(days, key=_DAYS.index) == members and len(days) > 1:
            return group
    return days[0].capitalize() if days else None


def recurrence_to_graph(value: Mapping[str, Any] | None, zone: str | None) -> dict | None:
    """Neutral ``recurrence`` -> Graph patternedRecurrence (dates local in ``zone``)."""
    if not value or not value.get("pattern"):
        return None
    spec = value["pattern"]
    kind = spec["type"]
    pattern: dict[str, Any] = {"type": _PATTERN_TYPES[kind], "interval": 1}
    if not kind.endswith("yearly"):
        pattern["interval"] = int(spec.get("interval") or 1)
    if kind == "weekly":
        pattern["daysOfWeek"] = _days_to_graph(spec.get("weekdays") or [])
        pattern["firstDayOfWeek"] = str(spec.get("first_day_of_week") or "Monday").lower()
    if kind.startswith("absolute"):
        pattern["dayOfMonth"] = int(spec.get("day_of_month") or 1)
    if kind.startswith("relative"):
        pattern["daysOfWeek"] = _days_to_graph(spec.get("weekday"))
        pattern["index"] = str(spec.get("week_number") or "First").lower()
    if kind.endswith("yearly"):
        month = spec.get("month")
        pattern["month"] = month if isinstance(month, int) else _MONTHS.index(month) + 1
    bound = value.get("boundary") or {}
    kind = bound.get("type") or "no_end"
    rng: dict[str, Any] = {
        "type": _RANGE_TYPES[kind],
        "startDate": bound.get("start"),
        "recurrenceTimeZone": zone or "UTC",
    }
    if kind == "end_date":
        rng["endDate"] = bound.get("end")
    if kind == "numbered":
        rng["numberOfOccurrences"] = int(bound.get("number") or 1)
    return {"pattern": pattern, "range": rng}


def recurrence_from_graph(value: Mapping[str, Any] | None) -> dict | None:
    """Graph patternedRecurrence -> neutral ``recurrence`` (only the fields its pattern
    type uses: Graph sends every field, with defaults, whatever the type)."""
    if not value or not value.get("pattern"):
        return None
    spec, rng = value["pattern"], value.get("range") or {}
    kind = _PATTERN_NAMES[spec["type"]]
    pattern: dict[str, Any] = {"type": kind}
    if not kind.endswith("yearly"):
        pattern["interval"] = int(spec.get("interval") or 1)
    days = [d.lower() for d in spec.get("daysOfWeek") or []]
    if kind == "weekly":
        pattern["weekdays"] = [d.capitalize() for d in days]
        first = str(spec.get("firstDayOfWeek") or "monday").capitalize()
        if first != "Monday":  # EWS's default, never sent as a choice
            pattern["first_day_of_week"] = first
    if kind.startswith("absolute"):
        pattern["day_of_month"] = int(spec.get("dayOfMonth") or 1)
    if kind.startswith("relative"):
        pattern["weekday"] = _day_from_graph(days)
        pattern["week_number"] = str(spec.get("index") or "first").capitalize()
    if kind.endswith("yearly"):
        pattern["month"] = _MONTHS[int(spec.get("month") or 1) - 1]
    boundary: dict[str, Any] = {
        "type": _RANGE_NAMES.get(rng.get("type") or "noEnd", "no_end"),
        "start": (rng.get("startDate") or "")[:10] or None,
    }
    if boundary["type"] == "end_date":
        boundary["end"] = (rng.get("endDate") or "")[:10] or None
    if boundary["type"] == "numbered":
        boundary["number"] = int(rng.get("numberOfOccurrences") or 1)
    return {"pattern": pattern, "boundary": boundary}


# -- whole events -------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def event_from_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Neutral fields -> the Graph event JSON to POST or PATCH (only the fields given;
    times need the meeting's ``timezone`` and ``is_all_day`` among them)."""
    zone = fields.get("timezone") or None
    zone = None if zone in UTC_NAMES else zone
    all_day = bool(fields.get("is_all_day"))
    out: dict[str, Any] = {}
    if "subject" in fields:
        out["subject"] = _text(fields["subject"])
    if "body" in fields:
        out["body"] = {"contentType": "text", "content": _text(fields["body"])}
    if "location" in fields:
        out["location"] = {"displayName": _text(fields["location"])}
    if "is_all_day" in fields:
        out["isAllDay"] = all_day
    for name in ("start", "end"):
        if fields.get(name):
            out[name] = when_to_graph(fields[name], zone, all_day, end=name == "end")
    if "required_attendees" in fields:
        out["attendees"] = [
            {"emailAddress": {"address": a}, "type": "required"}
            for a in fields["required_attendees"] or ()
        ]
    if "reminder_is_set" in fields:
        out["isReminderOn"] = bool(fields["reminder_is_set"])
    if fields.get("reminder_minutes_before_start") is not None:
        out["reminderMinutesBeforeStart"] = int(fields["reminder_minutes_before_start"])
    if "recurrence" in fields:
        out["recurrence"] = recurrence_to_graph(fields["recurrence"], zone)
    return out


def event_zone(event: Mapping[str, Any]) -> str | None:
    """The zone a Graph event keeps its wall-clock time in: the zone it was created in
    (Graph answers times in UTC unless asked otherwise), else its series' zone, else the
    zone its start is given in; a name nobody knows is skipped."""
    candidates = (
        event.get("originalStartTimeZone"),
        _range_zone(event),
        (event.get("start") or {}).get("timeZone"),
    )
    for candidate in candidates:
        if candidate in UTC_NAMES:
            return None
        name = zone_name(candidate)
        if name is not None:
            return name
    return None


def _range_zone(event: Mapping[str, Any]) -> Any:
    return ((event.get("recurrence") or {}).get("range") or {}).get("recurrenceTimeZone")


def fields_from_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """A Graph event (single meeting or series master) -> neutral fields (exceptions and
    cancelled occurrences are added by the caller, from the series' instances)."""
    zone = event_zone(event)
    all_day = bool(event.get("isAllDay"))
    body = (event.get("body") or {}).get("content")
    location = (event.get("location") or {}).get("displayName")
    attendees = [
        a["emailAddress"]["address"]
        for a in event.get("attendees") or ()
        if a.get("type", "required") == "required" and (a.get("emailAddress") or {}).get("address")
    ]
    return {
        "subject": event.get("subject") or None,
        "body": body or None,
        "location": location or None,
        "start": when_from_graph(event.get("start"), zone, all_day),
        "end": when_from_graph(event.get("end"), zone, all_day, end=True),
        "is_all_day": all_day,
        "timezone": zone,
        "uid": event.get("iCalUId") or None,
        "required_attendees": attendees or None,
        "reminder_is_set": bool(event.get("isReminderOn")),
        "reminder_minutes_before_start": event.get("reminderMinutesBeforeStart"),
        "recurrence": recurrence_from_graph(event.get("recurrence")),
    }


# -- a series' occurrences --------------------------------------------------------------


def slot_end(master: Mapping[str, Any], start: str) -> str:
    """Where an occurrence starting at ``start`` ends when it keeps the series' length."""
    zone = master.get("timezone")
    if len(start) == 10:
        length = dt.date.fromisoformat(master["end"][:10]) - dt.date.fromisoformat(
            master["start"][:10]
        )
        return (dt.date.fromisoformat(start) + length).isoformat()
    length = as_instant(master["end"], zone) - as_instant(master["start"], zone)
    return (as_instant(start, zone) + length).astimezone(zone_of(zone)).isoformat()


def _same_time(a: str | None, b: str | None, zone: str | None) -> bool:
    if not a or not b or (len(a) == 10) != (len(b) == 10):
        return a == b
    return as_instant(a, zone) == as_instant(b, zone)


def occurrence_entry(master: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any] | None:
    """An exception event (with ``originalStart``) -> a ``modified_occurrences`` entry of
    the series whose neutral fields are ``master``: its times and the fields that differ
    from the series; ``None`` when it equals its slot."""
    zone, all_day = master.get("timezone"), bool(master.get("is_all_day"))
    if not event.get("originalStart"):
        return None
    original = utc_to_local(event["originalStart"], zone, all_day)
    start = when_from_graph(event.get("start"), zone, all_day) or original
    end = when_from_graph(event.get("end"), zone, all_day, end=True) or slot_end(master, start)
    entry: dict[str, Any] = {"original_start": original, "start": start, "end": end}
    occurrence = fields_from_event(event)
    for name in OCCURRENCE_FIELDS:
        if _text(occurrence.get(name)) != _text(master.get(name)):
            entry[name] = occurrence.get(name)
    moved = not _same_time(start, original, zone) or not _same_time(
        end, slot_end(master, original), zone
    )
    return entry if moved or len(entry) > 3 else None


def occurrence_patch(master: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """The PATCH that turns an occurrence into the exception ``entry`` describes (fields it
    does not name take the series' values, so an entry put back is its slot again)."""
    start = entry.get("start") or entry["original_start"]
    fields = {
        "timezone": master.get("timezone"),
        "is_all_day": master.get("is_all_day"),
        "start": start,
        "end": entry.get("end") or slot_end(master, start),
    }
    for name in OCCURRENCE_FIELDS:
        fields[name] = entry.get(name, master.get(name))
    patch = event_from_fields(fields)
    patch.pop("isAllDay", None)
    return patch
