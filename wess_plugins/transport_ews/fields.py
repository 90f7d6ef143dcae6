"""Neutral item fields <-> exchangelib item attributes, per folder.

The neutral fields are JSON values named after exchangelib's attributes (see
``wess_core.strategies``), so most map 1:1; the converters below handle the
structured ones (addresses, phone numbers, attendees, dates, recurrence).
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.errors import UnknownTimeZone
from exchangelib.fields import MONTHS, WEEK_NUMBERS, WEEKDAY_NAMES, CharField
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.properties import Attendee, Mailbox
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

UTC = EWSTimeZone("UTC")


@dataclass(frozen=True)
class FieldMap:
    """One neutral field: the exchangelib attribute and the two conversions."""

    name: str
    attribute: str
    #: ``None``: read-only in EWS (changed through occurrence items, not the master)
    to_ews: Callable[[Any], Any] | None
    from_ews: Callable[[Any], Any]
    #: Written when the item is created, never by an update (the meeting's UID).
    create_only: bool = False


def _same(value: Any) -> Any:
    return value


def _text(value: Any) -> Any:
    return None if value is None else str(value)


# -- dates ------------------------------------------------------------------


def datetime_to_ews(value: str | None) -> EWSDateTime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return EWSDateTime.from_datetime(parsed.astimezone(dt.UTC)).astimezone(UTC)


def datetime_from_ews(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat()


def date_to_ews(value: str | None) -> EWSDate | None:
    if not value:
        return None
    return EWSDate.from_date(dt.date.fromisoformat(value[:10]))


def date_from_ews(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return value.isoformat()


# -- contacts ---------------------------------------------------------------


def emails_to_ews(values: list[dict[str, str]] | None) -> list[EmailAddress] | None:
    if not values:
        return None
    return [EmailAddress(label=v["label"], email=v["email"]) for v in values if v.get("email")]


def emails_from_ews(values: list[EmailAddress] | None) -> list[dict[str, str]] | None:
    if not values:
        return None
    return [{"label": e.label, "email": e.email} for e in values if e.email] or None


def phones_to_ews(values: list[dict[str, str]] | None) -> list[PhoneNumber] | None:
    if not values:
        return None
    return [
        PhoneNumber(label=v["label"], phone_number=v["phone_number"])
        for v in values
        if v.get("phone_number")
    ]


def phones_from_ews(values: list[PhoneNumber] | None) -> list[dict[str, str]] | None:
    if not values:
        return None
    out = [{"label": p.label, "phone_number": p.phone_number} for p in values if p.phone_number]
    return out or None


_ADDRESS_PARTS = ("street", "city", "state", "country", "zipcode")


def addresses_to_ews(values: list[dict[str, str]] | None) -> list[PhysicalAddress] | None:
    if not values:
        return None
    return [
        PhysicalAddress(label=v.get("label", "Business"), **{k: v.get(k) for k in _ADDRESS_PARTS})
        for v in values
    ]


def addresses_from_ews(values: list[PhysicalAddress] | None) -> list[dict[str, str]] | None:
    if not values:
        return None
    out = []
    for a in values:
        parts = {k: getattr(a, k) for k in _ADDRESS_PARTS if getattr(a, k)}
        if parts:
            out.append({"label": a.label, **parts})
    return out or None


# -- calendar ---------------------------------------------------------------


def attendees_to_ews(values: list[str] | None) -> list[Attendee] | None:
    if not values:
        return None
    return [Attendee(mailbox=Mailbox(email_address=v), response_type="Unknown") for v in values]


def attendees_from_ews(values: list[Attendee] | None) -> list[str] | None:
    if not values:
        return None
    out = [a.mailbox.email_address for a in values if a.mailbox and a.mailbox.email_address]
    return out or None


_PATTERNS = {
    "daily": DailyPattern,
    "weekly": WeeklyPattern,
    "absolute_monthly": AbsoluteMonthlyPattern,
    "relative_monthly": RelativeMonthlyPattern,
    "absolute_yearly": AbsoluteYearlyPattern,
    "relative_yearly": RelativeYearlyPattern,
}
_PATTERN_NAMES = {cls: name for name, cls in _PATTERNS.items()}
_NAMED = {"weekdays": WEEKDAY_NAMES, "first_day_of_week": WEEKDAY_NAMES, "weekday": WEEKDAY_NAMES,
          "month": MONTHS, "week_number": WEEK_NUMBERS}  # fmt: skip
_PATTERN_ATTRS = ("interval", "weekdays", "first_day_of_week", "day_of_month", "month",
                  "week_number", "weekday")  # fmt: skip


def _name_of(attr: str, value: Any) -> Any:
    names = _NAMED.get(attr)
    if names is None:
        return value
    if isinstance(value, list | tuple):
        return [_name_of(attr, v) for v in value]
    return names[value - 1] if isinstance(value, int) else value


def recurrence_to_ews(value: dict[str, Any] | None) -> Recurrence | None:
    """``{"pattern": {"type": "weekly", "interval": 1, "weekdays": ["Monday"]},
    "boundary": {"type": "end_date" | "no_end" | "numbered", "start", "end" | "number"}}``."""
    if not value:
        return None
    spec = dict(value["pattern"])
    cls = _PATTERNS[spec.pop("type")]
    pattern = cls(**{k: v for k, v in spec.items() if v is not None})
    bound = value.get("boundary") or {}
    start = date_to_ews(bound.get("start"))
    kind = bound.get("type", "no_end")
    if kind == "numbered":
        boundary: Any = NumberedPattern(start=start, number=int(bound["number"]))
    elif kind == "end_date":
        boundary = EndDatePattern(start=start, end=date_to_ews(bound["end"]))
    else:
        boundary = NoEndPattern(start=start)
    return Recurrence(pattern=pattern, boundary=boundary)


def recurrence_from_ews(value: Recurrence | None) -> dict[str, Any] | None:
    if value is None or value.pattern is None:
        return None
    pattern: dict[str, Any] = {"type": _PATTERN_NAMES[type(value.pattern)]}
    for attr in _PATTERN_ATTRS:
        got = getattr(value.pattern, attr, None)
        if got is not None:
            pattern[attr] = _name_of(attr, got)
    if pattern.get("first_day_of_week") == "Monday":  # exchangelib's default: not a choice
        del pattern["first_day_of_week"]
    b = value.boundary
    boundary: dict[str, Any] = {"type": "no_end", "start": date_from_ews(b.start)}
    if isinstance(b, NumberedPattern):
        boundary.update(type="numbered", number=b.number)
    elif isinstance(b, EndDatePattern):
        boundary.update(type="end_date", end=date_from_ews(b.end))
    return {"pattern": pattern, "boundary": boundary}


def deleted_from_ews(values: Any) -> list[str] | None:
    if not values:
        return None
    return [datetime_from_ews(d.start) for d in values]


def modified_from_ews(values: Any) -> list[dict[str, Any]] | None:
    if not values:
        return None
    return [
        {
            "original_start": datetime_from_ews(o.original_start),
            "start": datetime_from_ews(o.start),
            "end": datetime_from_ews(o.end),
        }
        for o in values
    ]


# -- calendar: time zones ---------------------------------------------------
#
# A meeting keeps its zone: the neutral ``timezone`` is the IANA name of the item's
# StartTimeZone (exchangelib ``_start_timezone``, sent as a Windows zone id; it comes back
# as the canonical IANA zone of that Windows zone, e.g. Europe/Amsterdam -> Europe/Berlin),
# absent for UTC. ``start``/``end`` (and occurrence times) are written and read as local
# times in that zone with their offset, so Exchange expands the series at the organiser's
# wall-clock time across DST changes. All-day values are dates; an all-day ``end`` is the
# last day (inclusive), as exchangelib presents it. The converters never use the machine's
# local zone: every value is aware, and the end zone is always requested.

_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Z"})


def zone_to_ews(name: str | None) -> EWSTimeZone:
    return UTC if not name or name in _UTC_NAMES else EWSTimeZone(name)


def zone_from_ews(value: Any) -> str | None:
    if value is None:
        return None
    name = getattr(value, "key", None) or str(value)
    return None if name in _UTC_NAMES or getattr(value, "ms_id", None) == "UTC" else name


def when_to_ews(value: str | None, tz: EWSTimeZone, all_day: bool) -> Any:
    """A neutral start/end -> EWSDate (all-day) or an EWSDateTime in ``tz``. A value
    without offset is local time in ``tz``."""
    if not value:
        return None
    if len(value) == 10:
        return EWSDate.from_date(dt.date.fromisoformat(value))
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    local = parsed.astimezone(tz)  # EWSTimeZone.fromutc may already give an EWSDateTime
    if not isinstance(local, EWSDateTime):
        local = EWSDateTime.from_datetime(local)
    return EWSDate.from_date(local.date()) if all_day else local


def when_from_ews(value: Any, tz: Any, all_day: bool, end: bool = False) -> str | None:
    """An exchangelib start/end (EWSDateTime in UTC, or EWSDate for all-day masters) ->
    local ISO time in ``tz`` (a date when ``all_day``; an occurrence's all-day end
    arrives as the next midnight and becomes the last day)."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        return value.isoformat()
    if all_day:
        return all_day_date(value, tz or UTC, end).isoformat()
    return value.astimezone(tz or UTC).isoformat()


# -- calendar: all-day dates never depend on the machine's zone ---------------
#
# Exchange sends an all-day event's start and end as instants (local midnights in the
# event's zone, in UTC). exchangelib turns them into dates in the item's StartTimeZone,
# and when there is none (older request shapes) or it cannot map the id (a "Customized
# Time Zone") in the *process's* local zone: on a machine in Los Angeles, an event on
# the 7th became the 6th. The transport reads the raw instants before exchangelib
# parses the element and derives the dates from the event's own zone: StartTimeZone
# (its Id, then its Name), else the legacy ``TimeZone`` name ("(UTC-08:00) Pacific Time
# (US & Canada)"), else the mailbox's zone from the account (``default_timezone``, which
# WESS sets; UTC). The local time is rounded to the nearest midnight, so a zone only
# known by its standard offset (a display name, in summer time) still gives the right day.

# exchangelib warns on every item whose zone id it cannot map ("Customized Time Zone"),
# every run: all-day dates are derived here without it, and timed events are instants,
# read in UTC, so in a sync log the warning is noise.
warnings.filterwarnings(
    "ignore",
    message=r"Cannot convert value .* on field '_(start|end|meeting)_timezone'",
    category=UserWarning,
)

#: The legacy, free-text zone of a calendar item, read (never written) for all-day dates.
LEGACY_TIMEZONE = "wess_legacy_timezone"
if LEGACY_TIMEZONE not in {f.name for f in CalendarItem.FIELDS}:
    CalendarItem.add_field(
        CharField(LEGACY_TIMEZONE, field_uri="calendar:TimeZone", is_read_only=True),
        insert_after="_end_timezone",
    )

_OFFSET_NAME = re.compile(r"^\((?:UTC|GMT)\s*(?:([+-])(\d{1,2}):?(\d{2})?)?\)")
_T = "{http://schemas.microsoft.com/exchange/services/2006/types}"


def zone_from_name(name: str | None) -> dt.tzinfo | None:
    """A zone from what Exchange may call it: a Windows id, an IANA name, or a display
    name starting "(UTC+05:30)" (a fixed offset); None when it names nothing known."""
    if not name or not isinstance(name, str):
        return None
    try:
        return EWSTimeZone.from_ms_id(name)
    except (UnknownTimeZone, ValueError, KeyError, TypeError):
        pass
    match = _OFFSET_NAME.match(name.strip())
    if match:
        sign, hours, minutes = match.groups()
        if not sign:
            return dt.UTC
        delta = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
        return dt.timezone(-delta if sign == "-" else delta)
    return None


def all_day_date(instant: dt.datetime, zone: dt.tzinfo, end: bool = False) -> dt.date:
    """The day an all-day start (or the last day, for an end) falls on in ``zone``: the
    local time rounded to the nearest midnight."""
    day = (instant.astimezone(zone) + dt.timedelta(hours=12)).date()
    return day - dt.timedelta(days=1) if end else day


def all_day_source(elem: Any, default_zone: Any) -> dict[str, Any] | None:
    """Before exchangelib parses a calendar item element (it empties it): for an all-day
    event, its raw start and end instants and the zone to read them in."""
    if elem is None or elem.tag != f"{_T}CalendarItem":
        return None
    if (elem.findtext(f"{_T}IsAllDayEvent") or "").strip() not in ("true", "1"):
        return None
    hints = []
    for tag in ("StartTimeZone", "EndTimeZone", "MeetingTimeZone"):
        node = elem.find(f"{_T}{tag}")
        if node is not None:
            hints += [node.get("Id"), node.get("TimeZoneName"), node.get("Name")]
    hints.append(elem.findtext(f"{_T}TimeZone"))
    zone = next((z for z in map(zone_from_name, hints) if z is not None), None)
    return {
        "start": elem.findtext(f"{_T}Start"),
        "end": elem.findtext(f"{_T}End"),
        "zone": zone or default_zone or UTC,
    }


def fix_all_day(item: Any, source: dict[str, Any] | None) -> None:
    """Set an all-day item's start and end dates from ``all_day_source``'s instants."""
    if source is None or not getattr(item, "is_all_day", False):
        return
    for name in ("start", "end"):
        raw = source.get(name)
        if not raw:
            continue
        try:
            instant = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            continue
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=dt.UTC)
        day = all_day_date(instant, source["zone"], end=name == "end")
        setattr(item, name, EWSDate(day.year, day.month, day.day))


def _instant(value: str) -> Any:
    if len(value) == 10:
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def calendar_to_ews(fields: dict[str, Any], values: dict[str, Any]) -> None:
    """Fix up what the field maps made: start/end in the meeting's zone, both zones set."""
    if not {"start", "end", "timezone", "is_all_day"} & fields.keys():
        return
    tz = zone_to_ews(fields.get("timezone"))
    all_day = bool(fields.get("is_all_day"))
    for name in ("start", "end"):
        if name in fields:
            values[name] = when_to_ews(fields[name], tz, all_day)
    values["_start_timezone"] = values["_end_timezone"] = tz


def calendar_from_ews(item: Any, fields: dict[str, Any]) -> None:
    """Times as local times in the item's zone; occurrences sorted by original start."""
    tz = getattr(item, "_start_timezone", None) or UTC
    all_day = bool(getattr(item, "is_all_day", False))
    for name in ("start", "end"):
        value = when_from_ews(getattr(item, name, None), tz, all_day, end=name == "end")
        if value is not None:
            fields[name] = value
    deleted = getattr(item, "deleted_occurrences", None) or []
    if deleted:
        starts = [when_from_ews(d.start, tz, all_day) for d in deleted]
        fields["deleted_occurrences"] = sorted(starts, key=_instant)
    modified = getattr(item, "modified_occurrences", None) or []
    if modified:
        entries = [
            {
                "original_start": when_from_ews(o.original_start, tz, all_day),
                "start": when_from_ews(o.start, tz, all_day),
                "end": when_from_ews(o.end, tz, all_day, end=True),
            }
            for o in modified
        ]
        fields["modified_occurrences"] = sorted(
            entries, key=lambda e: _instant(e["original_start"])
        )


def _read_only(value: Any) -> None:
    """Requested so exchangelib has it, never a neutral field."""
    return None


def _reminder_to_ews(value: Any) -> Any:
    return None if value is None else int(value)


def _percent_from_ews(value: Any) -> Any:
    if value is None:
        return None
    return int(value) if isinstance(value, Decimal) and value == int(value) else float(value)


def _percent_to_ews(value: Any) -> Any:
    return None if value is None else Decimal(str(value))


def _body_type(value: Any) -> str | None:
    """ "HTML" or "Text": which kind of body exchangelib read (its Body / HTMLBody)."""
    from exchangelib.properties import HTMLBody

    if not value:
        return None
    return "HTML" if isinstance(value, HTMLBody) else "Text"


def _mailbox_email(value: Mailbox | None) -> str | None:
    return value.email_address if value is not None else None


def _mailbox_emails(values: list[Mailbox] | None) -> list[str] | None:
    if not values:
        return None
    return [m.email_address for m in values if m.email_address] or None


def _simple(*names: str) -> list[FieldMap]:
    return [FieldMap(n, n, _text, _text) for n in names]


FOLDER_FIELDS: dict[str, list[FieldMap]] = {
    "contacts": [
        *_simple("given_name", "surname", "display_name", "company_name", "job_title", "body"),
        FieldMap("email_addresses", "email_addresses", emails_to_ews, emails_from_ews),
        FieldMap("phone_numbers", "phone_numbers", phones_to_ews, phones_from_ews),
        FieldMap("physical_addresses", "physical_addresses", addresses_to_ews, addresses_from_ews),
    ],
    "calendar": [
        *_simple("subject", "location", "body"),
        FieldMap("start", "start", datetime_to_ews, datetime_from_ews),
        FieldMap("end", "end", datetime_to_ews, datetime_from_ews),
        FieldMap("is_all_day", "is_all_day", _same, _same),
        FieldMap("timezone", "_start_timezone", zone_to_ews, zone_from_ews),
        # the iCalendar UID: read for matching, set once on create (Exchange keeps it)
        FieldMap("uid", "uid", _text, _text, create_only=True),
        # all-day ends are converted to dates in this zone (never the machine's own)
        FieldMap("end_timezone", "_end_timezone", None, _read_only),
        FieldMap("legacy_timezone", LEGACY_TIMEZONE, None, _read_only),
        FieldMap("required_attendees", "required_attendees", attendees_to_ews, attendees_from_ews),
        FieldMap(
            "reminder_minutes_before_start",
            "reminder_minutes_before_start",
            _reminder_to_ews,
            _same,
        ),
        FieldMap("reminder_is_set", "reminder_is_set", _same, _same),
        FieldMap("recurrence", "recurrence", recurrence_to_ews, recurrence_from_ews),
        FieldMap("deleted_occurrences", "deleted_occurrences", None, deleted_from_ews),
        FieldMap("modified_occurrences", "modified_occurrences", None, modified_from_ews),
    ],
    "tasks": [
        *_simple("subject", "body", "status"),
        FieldMap("due_date", "due_date", date_to_ews, date_from_ews),
        FieldMap("start_date", "start_date", date_to_ews, date_from_ews),
        FieldMap("percent_complete", "percent_complete", _percent_to_ews, _percent_from_ews),
    ],
    "messages": [
        *_simple("subject", "body", "message_id"),
        FieldMap("body_type", "body", None, _body_type),
        # "From" (exchangelib's ``author``): settable, and what a received mail shows
        FieldMap("sender", "author", _same, _mailbox_email),
        FieldMap("to_recipients", "to_recipients", _same, _mailbox_emails),
        FieldMap("cc_recipients", "cc_recipients", _same, _mailbox_emails),
        FieldMap("datetime_received", "datetime_received", _same, datetime_from_ews),
    ],
}
#: Per folder: (fields, values) -> None after the field maps wrote ``values`` for EWS, and
#: (exchangelib item, fields) -> None after they read ``fields`` from it.
FOLDER_TO_EWS: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "calendar": calendar_to_ews
}
FOLDER_FROM_EWS: dict[str, Callable[[Any, dict[str, Any]], None]] = {"calendar": calendar_from_ews}
FOLDER_FIELDS["inbox"] = FOLDER_FIELDS["messages"]
FOLDER_FIELDS["sentitems"] = FOLDER_FIELDS["messages"]
