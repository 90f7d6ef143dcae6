"""Graph events ↔ the ``t:CalendarItem`` elements the store keeps (one item, two protocols).

A calendar item is stored once, as the EWS XML Exchange would hold: Start/End in UTC, the
zone as ``t:StartTimeZone``/``t:EndTimeZone`` (a Windows id; an IANA name sent over Graph
is kept in the ``Name`` attribute and returned as sent), a series as ``t:Recurrence``. A
series master renders as ``seriesMaster`` with a patternedRecurrence; its occurrences
(synthesized by the store) as ``occurrence`` and its stored exceptions as ``exception``,
both with ``seriesMasterId`` and ``originalStart``; anything else is a ``singleInstance``.
Times are returned in the event's own zone (``{"dateTime", "timeZone"}``).

Parsing goes the other way for POST and PATCH: only the properties the JSON names change.
Bad values raise ``ValueError`` (the routes answer 400).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..model import Item, now_text
from ..records import utc_times
from ..recurrence import DAYS, parse_dt
from ..xmlutil import el, insert_ordered, local, sort_children, sub, tq

TYPE_NAME = "CalendarItemType"
_TYPES = {
    "Single": "singleInstance",
    "RecurringMaster": "seriesMaster",
    "Occurrence": "occurrence",
    "Exception": "exception",
}
_PATTERNS = {
    "DailyRecurrence": "daily",
    "WeeklyRecurrence": "weekly",
    "AbsoluteMonthlyRecurrence": "absoluteMonthly",
    "RelativeMonthlyRecurrence": "relativeMonthly",
    "AbsoluteYearlyRecurrence": "absoluteYearly",
    "RelativeYearlyRecurrence": "relativeYearly",
}
_PATTERN_TAGS = {v: k for k, v in _PATTERNS.items()}
_RANGES = {
    "NoEndRecurrence": "noEnd",
    "EndDateRecurrence": "endDate",
    "NumberedRecurrence": "numbered",
}
_RANGE_TAGS = {v: k for k, v in _RANGES.items()}
_MONTHS = list(calendar.month_name)[1:]
_GROUPS = {"Day": DAYS, "Weekday": DAYS[:5], "WeekendDay": DAYS[5:]}
_ATTENDEES = {
    "required": "RequiredAttendees",
    "optional": "OptionalAttendees",
    "resource": "Resources",
}
_UTC = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z"})


# -- zones ------------------------------------------------------------------------------


@functools.cache
def _iana_zone(name: str | None) -> bool:
    if not name or "/" not in name and name not in _UTC:
        return False
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def _windows(name: str) -> str:
    from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP

    found = IANA_TO_MS_TIMEZONE_MAP.get(name)
    return found[0] if found else name


def _iana(zone_id: str | None) -> str | None:
    from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

    if _iana_zone(zone_id):
        return zone_id
    return MS_TIMEZONE_TO_IANA_MAP.get(zone_id or "")


def zone_label(elem, which: str = "Start") -> str:
    """The zone name Graph shows for an item: the IANA name sent over Graph, else the IANA
    zone of its Windows id; "UTC" when it has none."""
    node = elem.find(tq(f"{which}TimeZone"))
    if node is None and which == "End":
        node = elem.find(tq("StartTimeZone"))
    if node is None:
        return "UTC"
    if _iana_zone(node.get("Name")):
        return node.get("Name")
    return _iana(node.get("Id")) or "UTC"


def _tz(label: str) -> dt.tzinfo:
    return dt.UTC if label in _UTC else ZoneInfo(label)


def check_zone(label: Any) -> str:
    """A ``timeZone`` a client sent: an IANA name, a Windows id or UTC (else ValueError)."""
    if not isinstance(label, str) or not label:
        raise ValueError("timeZone is required")
    if label in _UTC or _iana_zone(label):
        return label
    iana = _iana(label)
    if iana is None:
        raise ValueError(f"unknown timeZone {label!r}")
    return label


# -- times ------------------------------------------------------------------------------


def local_text(utc_text: str, label: str) -> str:
    """A stored UTC time as Graph's local ``dateTime`` in zone ``label``."""
    local_time = parse_dt(utc_text).astimezone(_tz(label))
    return local_time.strftime("%Y-%m-%dT%H:%M:%S.0000000")


def utc_text(value: Any, label: str) -> str:
    """A Graph ``dateTime`` (local in ``label``) as the stored UTC time."""
    if not isinstance(value, str) or not value:
        raise ValueError("dateTime is required")
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_tz(_iana(label) or "UTC"))
    return now_text(parsed)


_OFFSET_NAME = re.compile(r"^\((?:UTC|GMT)\s*(?:([+-])(\d{1,2}):?(\d{2})?)?\)")


def _zone_named(name: str | None) -> dt.tzinfo | None:
    """A zone from what an item may call it: an IANA name, a Windows id, or a display
    name starting "(UTC+09:00)" (its standard offset)."""
    if not name:
        return None
    iana = _iana(name)
    if iana:
        return _tz(iana)
    match = _OFFSET_NAME.match(name.strip())
    if not match:
        return None
    sign, hours, minutes = match.groups()
    offset = dt.timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
    return dt.timezone(-offset if sign == "-" else offset)


def all_day_zone(elem) -> dt.tzinfo:
    """The zone whose midnights an all-day item's stored instants are, as Exchange knows
    it: StartTimeZone's Id or Name, else the legacy ``t:TimeZone`` (items made by older
    clients, or in a "Customized Time Zone"); UTC when nothing names one."""
    hints: list[str | None] = []
    for tag in ("StartTimeZone", "EndTimeZone"):
        node = elem.find(tq(tag))
        if node is not None:
            hints += [node.get("Id"), node.get("Name")]
    hints.append(elem.findtext(tq("TimeZone")))
    return next((z for z in map(_zone_named, hints) if z is not None), dt.UTC)


def _time_json(elem, name: str) -> dict | None:
    text = elem.findtext(tq(name))
    if not text:
        return None
    label = zone_label(elem, "End" if name == "End" else "Start")
    if elem.findtext(tq("IsAllDayEvent")) == "true":
        # Graph shows an all-day event's days as midnights, whatever zone it names; the
        # nearest midnight, so a zone known only by its standard offset gives the day
        local_time = parse_dt(text).astimezone(all_day_zone(elem)) + dt.timedelta(hours=12)
        return {"dateTime": f"{local_time.date().isoformat()}T00:00:00.0000000", "timeZone": label}
    return {"dateTime": local_text(text, label), "timeZone": label}


# -- recurrence -----------------------------------------------------------------------


def _days_out(text: str | None) -> list[str]:
    out: list[str] = []
    for word in (text or "").split():
        out += [d.lower() for d in _GROUPS.get(word, [word] if word in DAYS else [])]
    return out


def recurrence_json(rec, label: str) -> dict | None:
    """A ``t:Recurrence`` as Graph's patternedRecurrence (every field, with Graph's
    defaults for those the pattern type does not use)."""
    if rec is None or len(rec) < 2:
        return None
    pattern_el, range_el = rec[0], rec[1]
    month = pattern_el.findtext(tq("Month"))
    index = pattern_el.findtext(tq("DayOfWeekIndex"))
    pattern = {
        "type": _PATTERNS[local(pattern_el.tag)],
        "interval": int(pattern_el.findtext(tq("Interval")) or 1),
        "month": _MONTHS.index(month) + 1 if month in _MONTHS else 0,
        "dayOfMonth": int(pattern_el.findtext(tq("DayOfMonth")) or 0),
        "daysOfWeek": _days_out(pattern_el.findtext(tq("DaysOfWeek"))),
        "firstDayOfWeek": (pattern_el.findtext(tq("FirstDayOfWeek")) or "Sunday").lower(),
        "index": (index or "First").lower(),
    }
    kind = _RANGES[local(range_el.tag)]
    return {
        "pattern": pattern,
        "range": {
            "type": kind,
            "startDate": (range_el.findtext(tq("StartDate")) or "")[:10],
            "endDate": (range_el.findtext(tq("EndDate")) or "0001-01-01")[:10],
            "recurrenceTimeZone": label,
            "numberOfOccurrences": int(range_el.findtext(tq("NumberOfOccurrences")) or 0),
        },
    }


def _days_in(days: Any, single: bool) -> str:
    names = [str(d).capitalize() for d in days or ()]
    if any(n not in DAYS for n in names) or not names:
        raise ValueError(f"bad daysOfWeek {days!r}")
    if single:
        for group, members in _GROUPS.items():
            if sorted(names, key=DAYS.index) == members and len(names) > 1:
                return group
        if len(names) > 1:
            raise ValueError("a relative pattern names one day or a group of days")
    return " ".join(names)


def recurrence_elem(value: dict) -> Any:
    """Graph's patternedRecurrence as a ``t:Recurrence`` (ValueError when malformed)."""
    try:
        spec, rng = value["pattern"], value["range"]
        kind = spec["type"]
        pattern = el(f"t:{_PATTERN_TAGS[kind]}")
        if not kind.endswith("Yearly"):
            sub(pattern, "t:Interval", int(spec.get("interval") or 1))
        if kind == "weekly" or kind.startswith("relative"):
            sub(pattern, "t:DaysOfWeek", _days_in(spec.get("daysOfWeek"), kind != "weekly"))
        if kind == "weekly":
            sub(
                pattern,
                "t:FirstDayOfWeek",
                str(spec.get("firstDayOfWeek") or "sunday").capitalize(),
            )
        if kind.startswith("relative"):
            sub(pattern, "t:DayOfWeekIndex", str(spec.get("index") or "first").capitalize())
        if kind.startswith("absolute"):
            sub(pattern, "t:DayOfMonth", int(spec["dayOfMonth"]))
        if kind.endswith("Yearly"):
            sub(pattern, "t:Month", _MONTHS[int(spec["month"]) - 1])
        boundary = el(f"t:{_RANGE_TAGS[rng.get('type') or 'noEnd']}")
        sub(boundary, "t:StartDate", dt.date.fromisoformat(rng["startDate"][:10]).isoformat())
        if rng.get("type") == "endDate":
            sub(boundary, "t:EndDate", dt.date.fromisoformat(rng["endDate"][:10]).isoformat())
        if rng.get("type") == "numbered":
            sub(boundary, "t:NumberOfOccurrences", int(rng["numberOfOccurrences"]))
    except (KeyError, IndexError, TypeError, AttributeError) as e:
        raise ValueError(f"bad recurrence: {e!r}") from None
    return el("t:Recurrence", children=[pattern, boundary])


# -- rendering ------------------------------------------------------------------------


def _attendees(elem) -> list[dict]:
    out = []
    for kind, tag in _ATTENDEES.items():
        for node in elem.findall(f"{tq(tag)}/{tq('Attendee')}"):
            mailbox = node.find(tq("Mailbox"))
            address = {
                "name": mailbox.findtext(tq("Name")) or "",
                "address": mailbox.findtext(tq("EmailAddress")) or "",
            }
            out.append({"type": kind, "emailAddress": address})
    return out


def render_event(item: Item, item_id_out: Callable[[Item], str]) -> dict[str, Any]:
    """Graph's JSON for a stored calendar item, occurrence or exception (``item_id_out``
    gives an item's Graph id; extended properties are added by the caller)."""
    elem = item.elem
    label = zone_label(elem)
    cal_type = elem.findtext(tq("CalendarItemType")) or "Single"
    if item.master is not None and cal_type == "Single":
        cal_type = "Occurrence"
    body = elem.find(tq("Body"))
    body_type = body.get("BodyType", "Text") if body is not None else "Text"
    out: dict[str, Any] = {
        "@odata.etag": f'W/"{item.change_key}"',
        "id": item_id_out(item),
        "createdDateTime": item.created,
        "lastModifiedDateTime": item.modified,
        "changeKey": item.change_key,
        "originalStartTimeZone": label,
        "originalEndTimeZone": zone_label(elem, "End"),
        "iCalUId": elem.findtext(tq("UID")) or "",
        "reminderMinutesBeforeStart": int(elem.findtext(tq("ReminderMinutesBeforeStart")) or 15),
        "isReminderOn": elem.findtext(tq("ReminderIsSet")) == "true",
        "subject": elem.findtext(tq("Subject")) or "",
        "body": {
            "contentType": "html" if body_type == "HTML" else "text",
            "content": (body.text or "") if body is not None else "",
        },
        "isAllDay": elem.findtext(tq("IsAllDayEvent")) == "true",
        "isCancelled": False,
        "type": _TYPES.get(cal_type, "singleInstance"),
        "seriesMasterId": item_id_out(item.master) if item.master is not None else None,
        "start": _time_json(elem, "Start"),
        "end": _time_json(elem, "End"),
        "location": {"displayName": elem.findtext(tq("Location")) or ""},
        "attendees": _attendees(elem),
        "recurrence": None,
    }
    if item.master is not None:
        original = elem.findtext(tq("OriginalStart")) or elem.findtext(tq("Start"))
        out["originalStart"] = now_text(parse_dt(original))
    elif cal_type == "RecurringMaster":
        out["recurrence"] = recurrence_json(elem.find(tq("Recurrence")), label)
    return out


# -- parsing --------------------------------------------------------------------------


def _set(elem, name: str, text: Any) -> None:
    insert_ordered(elem, el(f"t:{name}", text), TYPE_NAME)


def _drop(elem, name: str) -> None:
    for node in elem.findall(tq(name)):
        elem.remove(node)


def _zone_elem(name: str, label: str) -> Any:
    iana = _iana(label) or "UTC"
    return el(
        f"t:{name}", attrib={"Id": _windows(iana) if iana not in _UTC else "UTC", "Name": label}
    )


def _set_time(elem, name: str, value: Any, all_day: bool) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{name.lower()} must be a dateTimeTimeZone")
    label = check_zone(value.get("timeZone"))
    text = value.get("dateTime")
    if all_day and isinstance(text, str):
        text = text[:10] + "T00:00:00"
    _set(elem, name, utc_text(text, label))
    zone_name = "StartTimeZone" if name == "Start" else "EndTimeZone"
    insert_ordered(elem, _zone_elem(zone_name, label), TYPE_NAME)


def _set_attendees(elem, values: Any) -> None:
    for tag in _ATTENDEES.values():
        _drop(elem, tag)
    groups: dict[str, list] = {}
    for value in values or ():
        address = (value.get("emailAddress") or {}).get("address")
        if not address:
            raise ValueError("an attendee needs emailAddress.address")
        tag = _ATTENDEES.get(value.get("type") or "required")
        if tag is None:
            raise ValueError(f"bad attendee type {value.get('type')!r}")
        attendee = el("t:Attendee")
        mailbox = sub(attendee, "t:Mailbox")
        name = (value.get("emailAddress") or {}).get("name")
        if name:
            sub(mailbox, "t:Name", name)
        sub(mailbox, "t:EmailAddress", address)
        sub(mailbox, "t:RoutingType", "SMTP")
        sub(attendee, "t:ResponseType", "Unknown")
        groups.setdefault(tag, []).append(attendee)
    for tag, attendees in groups.items():
        insert_ordered(elem, el(f"t:{tag}", children=attendees), TYPE_NAME)


def apply_event(elem, doc: dict, *, occurrence: bool = False) -> None:
    """Change a ``t:CalendarItem`` as a Graph POST/PATCH body ``doc`` asks (only the
    properties it names). ``occurrence``: an instance of a series (no recurrence)."""
    if "subject" in doc:
        _set(elem, "Subject", doc["subject"] or "")
    if "body" in doc:
        body = doc["body"] or {}
        kind = "HTML" if str(body.get("contentType", "text")).lower() == "html" else "Text"
        insert_ordered(elem, el("t:Body", body.get("content") or "", {"BodyType": kind}), TYPE_NAME)
    if "location" in doc:
        name = (doc["location"] or {}).get("displayName") or ""
        if name:
            _set(elem, "Location", name)
        else:
            _drop(elem, "Location")
    if "isAllDay" in doc:
        _set(elem, "IsAllDayEvent", bool(doc["isAllDay"]))
    all_day = elem.findtext(tq("IsAllDayEvent")) == "true"
    if doc.get("start") is not None:
        _set_time(elem, "Start", doc["start"], all_day)
    if doc.get("end") is not None:
        _set_time(elem, "End", doc["end"], all_day)
    if "attendees" in doc:
        _set_attendees(elem, doc["attendees"])
    if "isReminderOn" in doc:
        _set(elem, "ReminderIsSet", bool(doc["isReminderOn"]))
    if doc.get("reminderMinutesBeforeStart") is not None:
        _set(elem, "ReminderMinutesBeforeStart", int(doc["reminderMinutesBeforeStart"]))
    if "recurrence" in doc and not occurrence:
        _drop(elem, "Recurrence")
        if doc["recurrence"]:
            insert_ordered(elem, recurrence_elem(doc["recurrence"]), TYPE_NAME)
        kind = "RecurringMaster" if doc["recurrence"] else "Single"
        _set(elem, "CalendarItemType", kind)
    start, end = elem.findtext(tq("Start")), elem.findtext(tq("End"))
    if start and end and parse_dt(end) < parse_dt(start):
        raise ValueError("the event ends before it starts")
    utc_times(elem)
    sort_children(elem, TYPE_NAME)


def new_event_elem(doc: dict) -> Any:
    """A new ``t:CalendarItem`` from a Graph POST body."""
    if not doc.get("start") or not doc.get("end"):
        raise ValueError("an event needs start and end")
    elem = el("t:CalendarItem")
    apply_event(elem, doc)
    return elem
