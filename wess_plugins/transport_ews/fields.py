"""Neutral item fields <-> exchangelib item attributes, per folder.

The neutral fields are JSON values named after exchangelib's attributes (see
``wess_core.strategies``), so most map 1:1; the converters below handle the
structured ones (addresses, phone numbers, attendees, dates, recurrence).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exchangelib import EWSDate, EWSDateTime
from exchangelib.fields import MONTHS, WEEK_NUMBERS, WEEKDAY_NAMES
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

from wess_plugins.transport_ews.calendar_fields import (
    LEGACY_TIMEZONE,
    UTC,
    calendar_from_ews,
    calendar_to_ews,
    zone_from_ews,
    zone_to_ews,
)
from wess_plugins.transport_ews.patches import END_TIMEZONE, START_TIMEZONE


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
_NAMED = {
    "weekdays": WEEKDAY_NAMES,
    "first_day_of_week": WEEKDAY_NAMES,
    "weekday": WEEKDAY_NAMES,
    "month": MONTHS,
    "week_number": WEEK_NUMBERS,
}
_PATTERN_ATTRS = (
    "interval",
    "weekdays",
    "first_day_of_week",
    "day_of_month",
    "month",
    "week_number",
    "weekday",
)


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
        FieldMap("timezone", START_TIMEZONE, zone_to_ews, zone_from_ews),
        # the iCalendar UID: read for matching, set once on create (Exchange keeps it)
        FieldMap("uid", "uid", _text, _text, create_only=True),
        # all-day ends are converted to dates in this zone (never the machine's own)
        FieldMap("end_timezone", END_TIMEZONE, None, _read_only),
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
