"""Calendar items' times: each meeting keeps its own zone, and all-day dates never
depend on the machine's zone (the field maps of ``fields`` use these converters)."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from typing import Any

from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.errors import UnknownTimeZone
from exchangelib.fields import CharField

from wess_core.sync.occurrence_slots import UTC_NAMES
from wess_plugins.transport_ews.patches import END_TIMEZONE, START_TIMEZONE

UTC = EWSTimeZone("UTC")


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


def zone_to_ews(name: str | None) -> EWSTimeZone:
    return UTC if not name or name in UTC_NAMES else EWSTimeZone(name)


def zone_from_ews(value: Any) -> str | None:
    if value is None:
        return None
    name = getattr(value, "key", None) or str(value)
    return None if name in UTC_NAMES or getattr(value, "ms_id", None) == "UTC" else name


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
        insert_after=END_TIMEZONE,
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


def as_instant(value: str) -> Any:
    """A neutral time or date as an aware instant (no offset, or a date: UTC), to compare."""
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
    values[START_TIMEZONE] = values[END_TIMEZONE] = tz


def calendar_from_ews(item: Any, fields: dict[str, Any]) -> None:
    """Times as local times in the item's zone; occurrences sorted by original start."""
    tz = getattr(item, START_TIMEZONE, None) or UTC
    all_day = bool(getattr(item, "is_all_day", False))
    for name in ("start", "end"):
        value = when_from_ews(getattr(item, name, None), tz, all_day, end=name == "end")
        if value is not None:
            fields[name] = value
    deleted = getattr(item, "deleted_occurrences", None) or []
    if deleted:
        starts = [when_from_ews(d.start, tz, all_day) for d in deleted]
        fields["deleted_occurrences"] = sorted(starts, key=as_instant)
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
            entries, key=lambda e: as_instant(e["original_start"])
        )
